package io.github.incus4j.api.internal.config;

import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/** Incus's {@code IsCron} (gronx since v7): comma-and-space separated aliases or five-field cron expressions. */
final class Cron {
    private static final Pattern WHITESPACE = Pattern.compile("\\s+");
    private static final List<String> MONTHS =
            List.of("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec");
    private static final List<String> DAYS = List.of("sun", "mon", "tue", "wed", "thu", "fri", "sat");
    private static final Pattern DOM_SPECIAL = Pattern.compile("l|lw|[0-9]{1,2}w");
    private static final Pattern DOW_SPECIAL = Pattern.compile("[0-7](l|#[1-5])");

    private Cron() {
    }

    /** Incus's error text for {@code value}, or {@code null} when every trigger is an alias or a valid expression. */
    static String error(String value, List<String> aliases) {
        // Triggers are separated by ", " because a bare comma is part of cron syntax.
        for (String trigger : value.toLowerCase(Locale.ROOT).split(", ", -1)) {
            if (!aliases.contains(trigger) && !isValid(trigger)) {
                return "Error parsing cron expr: " + trigger;
            }
        }
        return null;
    }

    private static boolean isValid(String expr) {
        String trimmed = expr.strip();
        if (trimmed.isEmpty()) {
            return false;
        }
        String[] f = WHITESPACE.split(trimmed);
        return f.length == 5
                && field(f[0], 0, 59, List.of(), null)
                && field(f[1], 0, 23, List.of(), null)
                && field(f[2], 1, 31, List.of(), DOM_SPECIAL)
                && field(f[3], 1, 12, MONTHS, null)
                && field(f[4], 0, 7, DAYS, DOW_SPECIAL);
    }

    /** One field: a list of {@code *}, {@code ?}, values, names, ranges, each optionally {@code /step}. */
    private static boolean field(String field, int min, int max, List<String> names, Pattern special) {
        for (String item : field.split(",", -1)) {
            if (special != null && special.matcher(item).matches()) {
                continue;
            }
            String base = item;
            int slash = item.indexOf('/');
            if (slash >= 0) {
                String step = item.substring(slash + 1);
                if (GoInt.parse(step, false, 32) != null || Long.parseLong(step) < 1) {
                    return false;
                }
                base = item.substring(0, slash);
            }
            if (base.equals("*") || base.equals("?")) {
                continue;
            }
            int dash = base.indexOf('-');
            String[] ends = dash < 0 ? new String[] {base} : new String[] {base.substring(0, dash),
                    base.substring(dash + 1)};
            int[] values = new int[ends.length];
            for (int i = 0; i < ends.length; i++) {
                values[i] = value(ends[i], min, max, names);
                if (values[i] < 0) {
                    return false;
                }
            }
            if (values.length == 2 && values[0] > values[1]) {
                return false;
            }
        }
        return true;
    }

    private static int value(String s, int min, int max, List<String> names) {
        int named = names.indexOf(s);
        if (named >= 0) {
            return named + (names.size() == 12 ? 1 : 0);
        }
        if (s.isEmpty() || s.length() > 2 || GoInt.parse(s, false, 32) != null) {
            return -1;
        }
        int v = Integer.parseInt(s);
        return v < min || v > max ? -1 : v;
    }
}
