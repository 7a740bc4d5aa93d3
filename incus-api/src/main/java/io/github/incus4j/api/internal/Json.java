package io.github.incus4j.api.internal;

import static org.apiguardian.api.API.Status.INTERNAL;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.PrettyPrinter;
import com.fasterxml.jackson.core.util.Instantiatable;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationConfig;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.cfg.MapperBuilder;
import com.fasterxml.jackson.databind.deser.std.StdScalarDeserializer;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.BeanPropertyWriter;
import com.fasterxml.jackson.databind.ser.BeanSerializerModifier;
import com.fasterxml.jackson.databind.ser.std.StdScalarSerializer;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import java.io.IOException;
import java.math.BigDecimal;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The Jackson setup shared by the module (not exported): JSON and YAML mappers configured the way Incus's Go encoders
 * write, and helpers that turn Jackson's checked exceptions into incus4j's.
 *
 * <ul>
 *   <li>{@link Instant}s are RFC 3339 strings in UTC with Go's {@code RFC3339Nano} fraction (trailing zeros trimmed,
 *   none when whole seconds); any offset is accepted when reading. A {@code null} {@code Instant} property is written
 *   as Go's zero time {@value #GO_ZERO_TIME_TEXT}, as Go never writes {@code null} for a {@code time.Time}.</li>
 *   <li>Map entries are sorted by key (Go's {@code encoding/json} does the same), unknown properties are ignored when
 *   reading, and scalars are coerced into strings ({@code ConfigMap} accepts numbers and booleans).</li>
 *   <li>YAML has no leading {@code ---}, quotes only where needed (strings that look like numbers or booleans stay
 *   quoted, as {@code yaml.v2} writes them) and writes multi-line strings as literal blocks.</li>
 * </ul>
 */
@API(status = INTERNAL)
public final class Json {
    /** Go's zero {@code time.Time} as text. */
    public static final String GO_ZERO_TIME_TEXT = "0001-01-01T00:00:00Z";

    /** Go's zero {@code time.Time}: what Incus writes for "no date" (a snapshot that never expires...). */
    public static final Instant GO_ZERO_TIME = Instant.parse(GO_ZERO_TIME_TEXT);

    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss");

    private static final ObjectMapper JSON = configure(JsonMapper.builder()).build();
    private static final ObjectMapper YAML = configure(YAMLMapper.builder(YAMLFactory.builder()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS)
            .enable(YAMLGenerator.Feature.LITERAL_BLOCK_STYLE)
            .build())).build();
    /**
     * For values {@link #YAML}'s plain and literal styles would not keep (see {@link #toYamlExact}): every string
     * double-quoted (SnakeYAML then escapes what needs it, e.g. {@code \N} for U+0085), keys quoted when fragile.
     */
    private static final ObjectMapper YAML_QUOTED = configure(YAMLMapper.builder(YAMLFactory.builder()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .disable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .disable(YAMLGenerator.Feature.LITERAL_BLOCK_STYLE)
            .stringQuotingChecker(new FragileQuoting())
            .build())).build();
    private static final ObjectWriter PRETTY = JSON.writer(new GoIndent("    "));

    private Json() {
    }

    /** The JSON mapper. Do not reconfigure it: it is shared. */
    public static ObjectMapper json() {
        return JSON;
    }

    /** The YAML mapper ({@code backup.yaml}, {@code metadata.yaml}). Do not reconfigure it: it is shared. */
    public static ObjectMapper yaml() {
        return YAML;
    }

    /** Compact JSON, as Go's {@code json.Marshal} lays it out. */
    public static String toJson(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IncusException("Failed to encode " + typeName(value) + " as JSON: " + describe(e), e);
        }
    }

    /**
     * Indented JSON, as Go's {@code json.MarshalIndent(v, "", "    ")}: {@code "key": value}, one entry per line,
     * empty objects and arrays written {@code {}} and {@code []}.
     */
    public static String toPrettyJson(Object value) {
        try {
            return PRETTY.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IncusException("Failed to encode " + typeName(value) + " as JSON: " + describe(e), e);
        }
    }

    /** YAML in UTF-8. */
    public static byte[] toYaml(Object value) {
        try {
            return YAML.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IncusException("Failed to encode " + typeName(value) + " as YAML: " + describe(e), e);
        }
    }

    /**
     * YAML in UTF-8 that reads back to exactly the same strings. The usual layout ({@link #toYaml}) is kept unless a
     * key or value holds a character YAML 1.1 treats as a line break or strips (U+0085, U+2028, U+2029, CR, BOM...)
     * in a plain or literal scalar; then strings are written double-quoted with escapes.
     *
     * @throws InvalidArgumentException naming {@code what} when a string holds an unpaired UTF-16 surrogate, which
     *     has no UTF-8 form
     */
    public static byte[] toYamlExact(Object value, String what) {
        JsonNode tree = YAML.valueToTree(value);
        boolean[] fragile = {false};
        walkStrings(tree, s -> {
            if (io.github.incus4j.api.internal.text.ErrorTexts.hasUnpairedSurrogate(s)) {
                throw new InvalidArgumentException("Invalid " + what + ": " + quoteForMessage(s)
                        + " holds an unpaired UTF-16 surrogate, which cannot be stored");
            }
            fragile[0] |= FragileQuoting.isFragile(s);
        });
        if (!fragile[0]) {
            return toYaml(value);
        }
        try {
            return YAML_QUOTED.writeValueAsBytes(value);
        } catch (JsonProcessingException e) {
            throw new IncusException("Failed to encode " + typeName(value) + " as YAML: " + describe(e), e);
        }
    }

    private static void walkStrings(JsonNode node, java.util.function.Consumer<String> visit) {
        if (node.isTextual()) {
            visit.accept(node.textValue());
        } else if (node.isObject()) {
            for (Map.Entry<String, JsonNode> e : node.properties()) {
                visit.accept(e.getKey());
                walkStrings(e.getValue(), visit);
            }
        } else if (node.isArray()) {
            node.forEach(n -> walkStrings(n, visit));
        }
    }

    private static String quoteForMessage(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < s.length() && i < 80; i++) {
            char c = s.charAt(i);
            sb.append(c < 0x20 || c > 0x7e ? String.format(java.util.Locale.ROOT, "\\u%04x", (int) c)
                    : String.valueOf(c));
        }
        return sb.append(s.length() > 80 ? "...\"" : "\"").toString();
    }

    /** Quotes keys and values that YAML's plain style would change. */
    private static final class FragileQuoting extends com.fasterxml.jackson.dataformat.yaml.util.StringQuotingChecker {
        private static final long serialVersionUID = 1L;
        private static final com.fasterxml.jackson.dataformat.yaml.util.StringQuotingChecker DEFAULT =
                com.fasterxml.jackson.dataformat.yaml.util.StringQuotingChecker.Default.instance();

        /** Characters a plain or literal scalar does not keep as they are. */
        static boolean isFragile(String s) {
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029 || c == 0xFEFF || c == '\t'
                        || (c < 0x20 && c != '\n') || (c >= 0x7F && c < 0xA0) || Character.isSurrogate(c)
                        || c == 0xFFFE || c == 0xFFFF) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public boolean needToQuoteName(String name) {
            return DEFAULT.needToQuoteName(name) || isFragile(name);
        }

        @Override
        public boolean needToQuoteValue(String value) {
            return DEFAULT.needToQuoteValue(value) || isFragile(value);
        }
    }

    /** Reads JSON; bad input is an {@link InvalidArgumentException} naming the type and what was wrong. */
    public static <T> T fromJson(String json, Class<T> type) {
        if (json == null) {
            throw new InvalidArgumentException("Invalid JSON for " + type.getSimpleName() + ": no content");
        }
        try {
            return requireContent(JSON.readValue(json, type), "JSON for " + type.getSimpleName());
        } catch (IOException e) {
            throw invalid("JSON for " + type.getSimpleName(), e);
        }
    }

    /** Reads YAML; bad input is an {@link InvalidArgumentException} naming the type and what was wrong. */
    public static <T> T fromYaml(byte[] yaml, Class<T> type) {
        return fromYaml(yaml, type, "YAML for " + type.getSimpleName());
    }

    /**
     * Reads YAML; bad input is an {@link InvalidArgumentException} whose message starts with
     * {@code "Invalid " + what} (e.g. {@code what = "backup.yaml"}).
     */
    public static <T> T fromYaml(byte[] yaml, Class<T> type, String what) {
        if (yaml == null) {
            throw new InvalidArgumentException("Invalid " + what + ": no content");
        }
        try {
            return requireContent(YAML.readValue(yaml, type), what);
        } catch (IOException e) {
            throw invalid(what, e);
        }
    }

    /** Go's {@code time.Time.MarshalText} for an instant: RFC 3339 in UTC, fraction without trailing zeros. */
    public static String formatTime(Instant t) {
        StringBuilder sb = new StringBuilder(30);
        sb.append(SECONDS.format(LocalDateTime.ofEpochSecond(t.getEpochSecond(), 0, ZoneOffset.UTC)));
        int nanos = t.getNano();
        if (nanos != 0) {
            String frac = String.format("%09d", nanos);
            int end = frac.length();
            while (frac.charAt(end - 1) == '0') {
                end--;
            }
            sb.append('.').append(frac, 0, end);
        }
        return sb.append('Z').toString();
    }

    /** Parses an RFC 3339 time with any offset ({@code Z}, {@code +02:00}, {@code -04:00}). */
    public static Instant parseTime(String text) {
        return OffsetDateTime.parse(text, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
    }

    // ---- configuration ----------------------------------------------------------------------------------------

    private static <M extends ObjectMapper, B extends MapperBuilder<M, B>> B configure(B builder) {
        SimpleModule time = new SimpleModule("incus4j-time");
        time.addSerializer(Instant.class, new InstantSerializer());
        time.addDeserializer(Instant.class, new InstantDeserializer());
        time.setSerializerModifier(new ZeroTimeForNull());
        return builder
                .addModule(new JavaTimeModule())
                // Registered after JavaTimeModule: its Instant handlers win.
                .addModule(time)
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .disable(DeserializationFeature.ADJUST_DATES_TO_CONTEXT_TIME_ZONE);
    }

    /** Writes an Instant as Go does. */
    private static final class InstantSerializer extends StdScalarSerializer<Instant> {
        private static final long serialVersionUID = 1L;

        InstantSerializer() {
            super(Instant.class);
        }

        @Override
        public void serialize(Instant value, JsonGenerator gen, SerializerProvider provider) throws IOException {
            gen.writeString(formatTime(value));
        }
    }

    /** Writes Go's zero time for a {@code null} Instant property. */
    private static final class ZeroTimeSerializer extends StdScalarSerializer<Object> {
        private static final long serialVersionUID = 1L;

        ZeroTimeSerializer() {
            super(Object.class);
        }

        @Override
        public void serialize(Object value, JsonGenerator gen, SerializerProvider provider) throws IOException {
            gen.writeString(GO_ZERO_TIME_TEXT);
        }
    }

    /** Reads RFC 3339 strings (any offset), or unix seconds given as a number. */
    private static final class InstantDeserializer extends StdScalarDeserializer<Instant> {
        private static final long serialVersionUID = 1L;

        InstantDeserializer() {
            super(Instant.class);
        }

        @Override
        public Instant deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            JsonToken t = p.currentToken();
            if (t == JsonToken.VALUE_STRING) {
                String text = p.getText().trim();
                if (text.isEmpty()) {
                    return null;
                }
                try {
                    return parseTime(text);
                } catch (DateTimeException e) {
                    return (Instant) ctxt.handleWeirdStringValue(Instant.class, text,
                            "not an RFC 3339 time (like " + GO_ZERO_TIME_TEXT + ")");
                }
            }
            if (t == JsonToken.VALUE_NUMBER_INT) {
                return Instant.ofEpochSecond(p.getLongValue());
            }
            if (t == JsonToken.VALUE_NUMBER_FLOAT) {
                BigDecimal seconds = p.getDecimalValue();
                long whole = seconds.longValue();
                long nanos = seconds.subtract(BigDecimal.valueOf(whole)).movePointRight(9).longValue();
                return Instant.ofEpochSecond(whole, nanos);
            }
            return (Instant) ctxt.handleUnexpectedToken(Instant.class, p);
        }
    }

    /** Gives every Instant-typed bean property a null serializer that writes Go's zero time. */
    private static final class ZeroTimeForNull extends BeanSerializerModifier {
        private static final long serialVersionUID = 1L;
        private static final ZeroTimeSerializer ZERO = new ZeroTimeSerializer();

        @Override
        public List<BeanPropertyWriter> changeProperties(SerializationConfig config,
                com.fasterxml.jackson.databind.BeanDescription beanDesc, List<BeanPropertyWriter> beanProperties) {
            for (BeanPropertyWriter w : beanProperties) {
                if (w.getType().hasRawClass(Instant.class) && !w.hasNullSerializer()) {
                    w.assignNullSerializer(ZERO);
                }
            }
            return beanProperties;
        }
    }

    /**
     * Go's {@code json.MarshalIndent}: one entry per line, {@code "key": value}, empty objects and arrays as
     * {@code {}} and {@code []}.
     */
    private static final class GoIndent implements PrettyPrinter, Instantiatable<GoIndent> {
        private final String indent;
        private int level;

        GoIndent(String indent) {
            this.indent = indent;
        }

        @Override
        public GoIndent createInstance() {
            return new GoIndent(indent);
        }

        private void newline(JsonGenerator g) throws IOException {
            g.writeRaw('\n');
            for (int i = 0; i < level; i++) {
                g.writeRaw(indent);
            }
        }

        @Override
        public void writeRootValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw('\n');
        }

        @Override
        public void writeStartObject(JsonGenerator g) throws IOException {
            g.writeRaw('{');
            level++;
        }

        @Override
        public void writeEndObject(JsonGenerator g, int nrOfEntries) throws IOException {
            level--;
            if (nrOfEntries > 0) {
                newline(g);
            }
            g.writeRaw('}');
        }

        @Override
        public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
            g.writeRaw(',');
            newline(g);
        }

        @Override
        public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(": ");
        }

        @Override
        public void writeStartArray(JsonGenerator g) throws IOException {
            g.writeRaw('[');
            level++;
        }

        @Override
        public void writeEndArray(JsonGenerator g, int nrOfValues) throws IOException {
            level--;
            if (nrOfValues > 0) {
                newline(g);
            }
            g.writeRaw(']');
        }

        @Override
        public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
            g.writeRaw(',');
            newline(g);
        }

        @Override
        public void beforeArrayValues(JsonGenerator g) throws IOException {
            newline(g);
        }

        @Override
        public void beforeObjectEntries(JsonGenerator g) throws IOException {
            newline(g);
        }
    }

    // ---- errors -----------------------------------------------------------------------------------------------

    private static <T> T requireContent(T value, String what) {
        if (value == null) {
            throw new InvalidArgumentException("Invalid " + what + ": no content");
        }
        return value;
    }

    private static String typeName(Object value) {
        return value == null ? "null" : value.getClass().getSimpleName();
    }

    /**
     * The exception for unreadable input: {@code "Invalid " + what + ": "} then the problem, the property path and the
     * position when known.
     */
    public static InvalidArgumentException invalid(String what, IOException e) {
        return new InvalidArgumentException("Invalid " + what + ": " + describe(e), e);
    }

    /**
     * The problem in one line: a record's own validation message when that is what failed, else Jackson's message,
     * then the property path and the position in the input.
     */
    static String describe(IOException e) {
        StringBuilder sb = new StringBuilder();
        Throwable cause = e.getCause();
        if (e instanceof JsonMappingException && cause instanceof RuntimeException && cause.getMessage() != null) {
            // A record's compact constructor refused a value (e.g. "Command not found").
            sb.append(cause.getMessage());
        } else if (e instanceof JsonProcessingException) {
            String m = ((JsonProcessingException) e).getOriginalMessage();
            sb.append(problem(m == null ? e.getClass().getSimpleName() : m));
        } else {
            sb.append(problem(String.valueOf(e.getMessage())));
        }
        if (e instanceof JsonMappingException) {
            String path = path((JsonMappingException) e);
            if (!path.isEmpty()) {
                sb.append(" (at ").append(path).append(')');
            }
        }
        if (e instanceof JsonProcessingException) {
            JsonLocation loc = ((JsonProcessingException) e).getLocation();
            if (loc != null && loc.getLineNr() > 0) {
                sb.append(" at line ").append(loc.getLineNr()).append(", column ").append(loc.getColumnNr());
            }
        }
        return sb.toString();
    }

    private static String path(JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                if (sb.length() > 0) {
                    sb.append('.');
                }
                sb.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.toString();
    }

    /**
     * The message without the parts that quote the input: SnakeYAML's messages interleave the problem
     * ({@code "while parsing a flow mapping"}, {@code "expected ',' or '}'..."}) with indented excerpts and marks.
     */
    private static String problem(String s) {
        StringBuilder sb = new StringBuilder();
        for (String line : s.split("\n")) {
            if (line.isBlank() || Character.isWhitespace(line.charAt(0))) {
                continue;
            }
            if (sb.length() > 0) {
                sb.append(": ");
            }
            sb.append(line.trim());
        }
        return sb.length() == 0 ? s.trim() : sb.toString();
    }
}
