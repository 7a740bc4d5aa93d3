package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.GoStrings;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apiguardian.api.API;

/** Snapshot expiry expressions ({@code snapshots.expiry}), as Incus's {@code GetExpiry} reads them. */
@API(status = INTERNAL)
public final class SnapshotExpiry {
    private SnapshotExpiry() {
    }

    /**
     * The expiry a {@code snapshots.expiry} expression gives from {@code from}, as Incus's {@code GetExpiry}: tokens
     * {@code <n><unit>} separated by single spaces, units {@code S} (seconds), {@code M} (minutes), {@code H}
     * (hours), {@code d} (days), {@code w} (weeks), {@code m} (months), {@code y} (years), each at most once. Years,
     * months and days are added together as calendar fields in UTC with Go's {@code AddDate} normalisation (31 January
     * plus one month is 2 or 3 March), then the hours, minutes and seconds. An empty (or {@code null}) expression means
     * no expiry.
     *
     * @throws InvalidArgumentException {@code Invalid expiry expression (value "...")}
     */
    public static Optional<Instant> at(String expression, Instant from) {
        if (from == null) {
            throw new InvalidArgumentException("A reference time is required to compute a snapshot expiry");
        }
        String expr = expression == null ? "" : expression;
        Parsed parsed = Parsed.of(expr);
        if (parsed.error() != null) {
            throw new InvalidArgumentException(ConfigKeys.named(parsed.error(), expr));
        }
        if (parsed.fields() == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(parsed.addTo(from));
        } catch (ArithmeticException | DateTimeException e) {
            throw new InvalidArgumentException(ConfigKeys.named("Invalid expiry expression", expr), e);
        }
    }

    /** Incus's error text for {@code expression}, or {@code null} when it is valid. */
    static String error(String expression) {
        return Parsed.of(expression).error();
    }

    /** A parsed {@code snapshots.expiry} expression: its fields (y, m, d, w, H, M, S) or Incus's error text. */
    private record Parsed(Map<Character, Long> fields, String error) {
        private static final Pattern TOKEN = Pattern.compile("([0-9]+)([SMHdwmy])");

        static Parsed of(String s) {
            String expr = GoStrings.trimSpace(s);
            if (expr.isEmpty()) {
                return new Parsed(null, null);
            }
            Map<Character, Long> fields = new HashMap<>();
            for (String token : expr.split(" ", -1)) {
                Matcher m = TOKEN.matcher(token);
                if (!m.matches()) {
                    return new Parsed(null, "Invalid expiry expression");
                }
                char unit = m.group(2).charAt(0);
                // Incus only refuses a repeated unit when the earlier value was positive ("0d 1d" is accepted).
                if (fields.getOrDefault(unit, 0L) > 0) {
                    return new Parsed(null, "Invalid expiry expression");
                }
                String err = GoInt.parse(m.group(1), true, 64);
                if (err != null) {
                    return new Parsed(null, GoInt.error("Atoi", m.group(1), err));
                }
                fields.put(unit, Long.parseLong(m.group(1)));
            }
            return new Parsed(fields, null);
        }

        /**
         * Go's {@code refDate.AddDate(y, m, d+7w).Add(H, M, S)} in UTC. Values too large for a date throw
         * {@link ArithmeticException} or {@link DateTimeException} (Go would silently wrap).
         */
        Instant addTo(Instant from) {
            ZonedDateTime z = from.atZone(ZoneOffset.UTC);
            long months = Math.addExact(z.getYear() * 12L + (z.getMonthValue() - 1),
                    Math.addExact(Math.multiplyExact(12L, get('y')), get('m')));
            LocalDate firstOfMonth = LocalDate.of(Math.toIntExact(Math.floorDiv(months, 12L)),
                    (int) Math.floorMod(months, 12L) + 1, 1);
            // Go normalises day overflow into the following months, which plusDays from the 1st reproduces.
            long days = Math.addExact(z.getDayOfMonth() - 1L,
                    Math.addExact(get('d'), Math.multiplyExact(7L, get('w'))));
            Instant base = LocalDateTime.of(firstOfMonth.plusDays(days), z.toLocalTime()).toInstant(ZoneOffset.UTC);
            long seconds = Math.addExact(Math.multiplyExact(3600L, get('H')),
                    Math.addExact(Math.multiplyExact(60L, get('M')), get('S')));
            return base.plusSeconds(seconds);
        }

        private long get(char unit) {
            return fields.getOrDefault(unit, 0L);
        }
    }
}
