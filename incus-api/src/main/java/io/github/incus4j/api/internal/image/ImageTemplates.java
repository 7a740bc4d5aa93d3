package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.ImageMetadataTemplate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import org.apiguardian.api.API;

/**
 * The templates of an image's {@code metadata.yaml}, applied as Incus's {@code templateApplyNow} does on a trigger
 * ({@code create}, {@code copy}, {@code rename}, {@code start}), with the subset of pongo2 that image templates use.
 *
 * <p>Supported template language: <code>{{ expr }}</code>, <code>{% if expr %}</code> with
 * <code>{% elif expr %}</code>, <code>{% else %}</code> and <code>{% endif %}</code>, <code>{# comment #}</code>, and
 * pongo2's whitespace control (<code>{{-</code>, <code>-}}</code>, <code>{%-</code> and <code>-%}</code> remove the
 * whitespace before or after the tag). Expressions: string literals ({@code "..."} or {@code '...'}), integers,
 * {@code true}/{@code false}, variables with dotted lookups ({@code instance.name}, {@code properties.default}),
 * calls ({@code config_get("user.meta-data", "")}), filters {@code |default:x}, {@code |upper}, {@code |lower},
 * {@code ==}, {@code !=}, {@code not}/{@code !}, {@code and}/{@code &&}, {@code or}/{@code ||} and parentheses.
 * As in pongo2, unknown variables render empty, booleans render {@code True}/{@code False}, empty strings, zero,
 * empty maps and null are false. Anything else (another tag, an unknown filter, a tag left open) is an
 * {@link InvalidArgumentException} naming the template, the line and the problem, raised before any file is written.
 */
@API(status = INTERNAL)
public final class ImageTemplates {
    private static final Set<String> FILTERS = Set.of("default", "upper", "lower");

    private ImageTemplates() {
    }

    /**
     * Where rendered files go (a container's rootfs; a VM's {@code config/files} for its agent). Paths are absolute
     * in the guest and free of {@code ..}; resolving them safely (e.g. not through symlinks out of the rootfs) is the
     * target's job.
     */
    public interface Target {
        boolean exists(String absolutePath);

        /**
         * Writes {@code content}. A new file gets {@code mode}, {@code uid} and {@code gid} (and missing parent
         * directories 0755, owned by root); an existing one is truncated and keeps its mode and owner, as Incus does.
         */
        void write(String absolutePath, byte[] content, int mode, long uid, long gid);
    }

    /**
     * What templates see of the instance.
     *
     * @param instanceType {@code container} or {@code virtual-machine}
     * @param privileged only exposed for containers
     * @param config the expanded configuration
     * @param devices the expanded devices
     */
    public record Context(String instanceName, String instanceType, String architecture, boolean ephemeral,
            boolean privileged, Map<String, String> config, Map<String, Map<String, String>> devices) {
        public Context {
            config = config == null ? Map.of() : config;
            devices = devices == null ? Map.of() : devices;
        }

        /** What {@code instance}'s templates see: its name, type, architecture, expanded config and devices. */
        public static Context of(Instance instance) {
            Map<String, Map<String, String>> devices = new TreeMap<>();
            instance.expandedDevices().map().forEach((n, d) -> devices.put(n, d.config()));
            return new Context(instance.name(), instance.type().apiName(), Architectures.name(
                    instance.architecture()), instance.isEphemeral(), instance.isPrivileged(),
                    instance.expandedConfig(), devices);
        }
    }

    /**
     * What a stateless start applies, as Incus's start hook: the templates of a pending trigger ({@code
     * volatile.apply_template}: {@code copy}, {@code create}, {@code rename}; none when null or empty), then the
     * {@code start} ones. The caller clears the pending trigger. (A stateful start applies none: the state it restores
     * was saved with the root filesystem as it was, and CRIU refuses files changed under the processes it restores.)
     *
     * @return the paths written, in order
     */
    public static List<String> applyAtStart(ImageMetadata metadata, Map<String, byte[]> templateFiles,
            String pendingTrigger, Context context, Target target) {
        List<String> written = new ArrayList<>();
        if (pendingTrigger != null && !pendingTrigger.isEmpty()) {
            written.addAll(apply(metadata, templateFiles, TemplateTrigger.of(pendingTrigger), context, target));
        }
        written.addAll(apply(metadata, templateFiles, TemplateTrigger.START, context, target));
        return written;
    }

    /**
     * Renders and writes every template of {@code metadata} whose {@code when} contains {@code trigger}, in target
     * path order. A {@code create_only} template is skipped when its file exists. The template file comes from
     * {@code templateFiles} (missing: "Template file &lt;name&gt; not found"); names with {@code /} or {@code ..} are
     * refused. Mode comes from {@code mode} (three digits get a leading 0, then Go's base prefixes apply; default
     * 0644), owner from {@code uid}/{@code gid} (default 0). Every template is validated and rendered before the
     * first file is written, so a bad one leaves the target untouched.
     *
     * @return the paths written, in order
     */
    public static List<String> apply(ImageMetadata metadata, Map<String, byte[]> templateFiles,
            TemplateTrigger trigger, Context context, Target target) {
        if (metadata == null) {
            return List.of();
        }
        record Pending(String path, byte[] content, int mode, long uid, long gid) {
        }
        List<Pending> pending = new ArrayList<>();
        for (Map.Entry<String, ImageMetadataTemplate> t : new TreeMap<>(metadata.templates()).entrySet()) {
            ImageMetadataTemplate tpl = t.getValue();
            if (tpl == null || !tpl.when().contains(trigger.value())) {
                continue;
            }
            String path = targetPath(t.getKey());
            String name = tpl.template();
            if (name.isEmpty() || name.contains("/") || name.contains("..")) {
                throw new InvalidArgumentException("Invalid template name \"" + name + "\" for " + t.getKey()
                        + ": it must be a plain file name inside templates/");
            }
            int mode = mode(tpl.mode(), t.getKey());
            long uid = id(tpl.uid(), "uid", t.getKey());
            long gid = id(tpl.gid(), "gid", t.getKey());
            if (tpl.createOnly() && target.exists(path)) {
                continue;
            }
            byte[] text = templateFiles == null ? null : templateFiles.get(name);
            if (text == null) {
                throw new InvalidArgumentException("Template file " + name + " not found");
            }
            String rendered = render(name, new String(text, UTF_8), variables(context, trigger, t.getKey(), tpl));
            pending.add(new Pending(path, rendered.getBytes(UTF_8), mode, uid, gid));
        }
        List<String> written = new ArrayList<>();
        for (Pending p : pending) {
            target.write(p.path(), p.content(), p.mode(), p.uid(), p.gid());
            written.add(p.path());
        }
        return written;
    }

    /**
     * Renders {@code text} (the template file {@code templateName}, named in errors) with {@code variables}. A
     * variable holding a {@code java.util.function.Function<List<Object>, Object>} can be called with arguments.
     */
    public static String render(String templateName, String text, Map<String, Object> variables) {
        List<Node> nodes = new Parser(templateName, text).parse();
        StringBuilder out = new StringBuilder(text.length());
        new Renderer(templateName, variables == null ? Map.of() : variables).render(nodes, out);
        return out.toString();
    }

    // ---- apply() helpers --------------------------------------------------------------------------------------

    private static Map<String, Object> variables(Context c, TemplateTrigger trigger, String path,
            ImageMetadataTemplate tpl) {
        Map<String, Object> instance = new LinkedHashMap<>();
        instance.put("name", c.instanceName());
        instance.put("type", c.instanceType());
        instance.put("architecture", c.architecture());
        instance.put("ephemeral", Boolean.toString(c.ephemeral()));
        if ("container".equals(c.instanceType())) {
            instance.put("privileged", Boolean.toString(c.privileged()));
        }
        Map<String, String> config = c.config();
        Function<List<Object>, Object> configGet = args -> {
            if (args.size() != 2) {
                throw new IllegalArgumentException("config_get takes 2 arguments, got " + args.size());
            }
            String value = config.get(Renderer.text(args.get(0)));
            // Incus trims trailing newlines so that a multi-line key can be inlined.
            return value == null ? args.get(1) : value.replaceAll("[\r\n]+$", "");
        };
        Map<String, Object> vars = new HashMap<>();
        vars.put("trigger", trigger.value());
        vars.put("path", path);
        vars.put("container", instance);
        vars.put("instance", instance);
        vars.put("config", config);
        vars.put("devices", c.devices());
        vars.put("properties", tpl.properties());
        vars.put("config_get", configGet);
        return vars;
    }

    /** The guest path a template writes: absolute, normalised, and never above {@code /}. */
    private static String targetPath(String key) {
        List<String> segments = new ArrayList<>();
        for (String s : key.split("/")) {
            if (s.equals("..")) {
                throw new InvalidArgumentException("Invalid template target path \"" + key + "\": it contains ..");
            }
            if (!s.isEmpty() && !s.equals(".")) {
                segments.add(s);
            }
        }
        if (segments.isEmpty()) {
            throw new InvalidArgumentException("Invalid template target path \"" + key + "\"");
        }
        return "/" + String.join("/", segments);
    }

    /** Incus: a 3-digit mode gets a leading 0, then {@code strconv.ParseInt(mode, 0, 0)} (0x, 0o, 0b, 0 prefixes). */
    private static int mode(String raw, String path) {
        if (raw.isEmpty()) {
            return 0644;
        }
        String s = raw.length() == 3 ? "0" + raw : raw;
        long value = -1;
        try {
            String lower = s.toLowerCase(Locale.ROOT);
            if (lower.startsWith("0x")) {
                value = Long.parseLong(s.substring(2), 16);
            } else if (lower.startsWith("0o")) {
                value = Long.parseLong(s.substring(2), 8);
            } else if (lower.startsWith("0b")) {
                value = Long.parseLong(s.substring(2), 2);
            } else if (s.length() > 1 && s.startsWith("0")) {
                value = Long.parseLong(s.substring(1), 8);
            } else {
                value = Long.parseLong(s);
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        if (value < 0 || value > 07777) {
            throw new InvalidArgumentException("Invalid template mode \"" + raw + "\" for " + path);
        }
        return (int) value;
    }

    private static long id(String raw, String what, String path) {
        if (raw.isEmpty()) {
            return 0;
        }
        try {
            long v = Long.parseLong(raw);
            if (v >= 0) {
                return v;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new InvalidArgumentException("Invalid template " + what + " \"" + raw + "\" for " + path);
    }

    // ---- The template language ---------------------------------------------------------------------------------

    private sealed interface Node permits Text, Print, If {
    }

    private record Text(String text) implements Node {
    }

    private record Print(Expr expr) implements Node {
    }

    private record Branch(Expr condition, List<Node> body) {
    }

    private record If(List<Branch> branches, List<Node> otherwise) implements Node {
    }

    @FunctionalInterface
    private interface Expr {
        Object eval(Renderer r);
    }

    /** Splits the text into text, {@code {{ }}}, {@code {% %}} and {@code {# #}} and builds the tag tree. */
    private static final class Parser {
        private final String name;
        private final String text;

        Parser(String name, String text) {
            this.name = name;
            this.text = text;
        }

        List<Node> parse() {
            // Open blocks: each frame is the node list being filled; ifs holds the open ifs with their opening line.
            List<List<Node>> stack = new ArrayList<>();
            List<If> ifs = new ArrayList<>();
            List<Integer> ifLines = new ArrayList<>();
            List<Boolean> inElse = new ArrayList<>();
            List<Node> root = new ArrayList<>();
            stack.add(root);
            StringBuilder pendingText = new StringBuilder();
            boolean trimNext = false;
            int pos = 0;
            while (true) {
                int open = nextTag(pos);
                String chunk = text.substring(pos, open < 0 ? text.length() : open);
                pendingText.append(trimNext ? stripLeading(chunk) : chunk);
                if (open < 0) {
                    break;
                }
                char kind = text.charAt(open + 1);
                int line = line(open);
                int bodyStart = open + 2;
                if (bodyStart < text.length() && text.charAt(bodyStart) == '-') {
                    bodyStart++;
                    trimTrailing(pendingText);
                }
                String close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
                int end = findClose(bodyStart, close, kind != '#');
                if (end < 0) {
                    throw error(line, "\"{" + kind + "\" is not closed with \"" + close + "\"");
                }
                int bodyEnd = end;
                trimNext = bodyEnd > bodyStart && text.charAt(bodyEnd - 1) == '-';
                if (trimNext) {
                    bodyEnd--;
                }
                pos = end + 2;
                if (kind == '#') {
                    continue;
                }
                List<Node> current = stack.get(stack.size() - 1);
                if (pendingText.length() > 0) {
                    current.add(new Text(pendingText.toString()));
                    pendingText.setLength(0);
                }
                String body = text.substring(bodyStart, bodyEnd).trim();
                if (kind == '{') {
                    if (body.isEmpty()) {
                        throw error(line, "empty {{ }}");
                    }
                    current.add(new Print(new ExprParser(name, body, line).parseAll()));
                    continue;
                }
                String tag = body.split("\\s+", 2)[0];
                String rest = body.substring(tag.length()).trim();
                switch (tag) {
                    case "if" -> {
                        List<Node> first = new ArrayList<>();
                        If node = new If(new ArrayList<>(), new ArrayList<>());
                        node.branches().add(new Branch(condition(rest, line, tag), first));
                        current.add(node);
                        ifs.add(node);
                        ifLines.add(line);
                        inElse.add(false);
                        stack.add(first);
                    }
                    case "elif", "else" -> {
                        if (ifs.isEmpty() || inElse.get(inElse.size() - 1)) {
                            throw error(line, "\"" + tag + "\" without a matching \"if\"");
                        }
                        If node = ifs.get(ifs.size() - 1);
                        stack.remove(stack.size() - 1);
                        if (tag.equals("elif")) {
                            List<Node> body2 = new ArrayList<>();
                            node.branches().add(new Branch(condition(rest, line, tag), body2));
                            stack.add(body2);
                        } else {
                            if (!rest.isEmpty()) {
                                throw error(line, "\"else\" takes no arguments");
                            }
                            inElse.set(inElse.size() - 1, true);
                            stack.add(node.otherwise());
                        }
                    }
                    case "endif" -> {
                        if (ifs.isEmpty()) {
                            throw error(line, "\"endif\" without a matching \"if\"");
                        }
                        if (!rest.isEmpty()) {
                            throw error(line, "\"endif\" takes no arguments");
                        }
                        ifs.remove(ifs.size() - 1);
                        ifLines.remove(ifLines.size() - 1);
                        inElse.remove(inElse.size() - 1);
                        stack.remove(stack.size() - 1);
                    }
                    default -> throw error(line, tag.isEmpty() ? "empty {% %}" : "unknown tag \"" + tag + "\"");
                }
            }
            if (!ifs.isEmpty()) {
                throw error(ifLines.get(ifLines.size() - 1), "\"if\" is not closed with \"endif\"");
            }
            if (pendingText.length() > 0) {
                root.add(new Text(pendingText.toString()));
            }
            return root;
        }

        private Expr condition(String source, int line, String tag) {
            if (source.isEmpty()) {
                throw error(line, "\"" + tag + "\" needs a condition");
            }
            return new ExprParser(name, source, line).parseAll();
        }

        private int nextTag(int from) {
            int i = text.indexOf('{', from);
            while (i >= 0 && i + 1 < text.length()) {
                char c = text.charAt(i + 1);
                if (c == '{' || c == '%' || c == '#') {
                    return i;
                }
                i = text.indexOf('{', i + 1);
            }
            return -1;
        }

        /** The index of {@code close}, skipping string literals inside expressions. */
        private int findClose(int from, String close, boolean skipStrings) {
            char quote = 0;
            for (int i = from; i + 1 < text.length(); i++) {
                char c = text.charAt(i);
                if (quote != 0) {
                    if (c == '\\') {
                        i++;
                    } else if (c == quote) {
                        quote = 0;
                    }
                } else if (skipStrings && (c == '"' || c == '\'')) {
                    quote = c;
                } else if (text.startsWith(close, i)) {
                    return i;
                }
            }
            return -1;
        }

        private int line(int offset) {
            int line = 1;
            for (int i = 0; i < offset; i++) {
                if (text.charAt(i) == '\n') {
                    line++;
                }
            }
            return line;
        }

        private InvalidArgumentException error(int line, String problem) {
            return templateError(name, line, problem);
        }

        private static String stripLeading(String s) {
            int i = 0;
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            return s.substring(i);
        }

        private static void trimTrailing(StringBuilder sb) {
            int end = sb.length();
            while (end > 0 && Character.isWhitespace(sb.charAt(end - 1))) {
                end--;
            }
            sb.setLength(end);
        }
    }

    private static InvalidArgumentException templateError(String name, int line, String problem) {
        return new InvalidArgumentException("Failed to parse template " + name + ": line " + line + ": " + problem);
    }

    /** Recursive descent over one expression's tokens. */
    private static final class ExprParser {
        private final String name;
        private final int line;
        private final List<String> tokens = new ArrayList<>();
        private int next;

        ExprParser(String name, String source, int line) {
            this.name = name;
            this.line = line;
            tokenize(source);
        }

        Expr parseAll() {
            Expr e = or();
            if (next < tokens.size()) {
                throw error("unexpected \"" + tokens.get(next) + "\"");
            }
            return e;
        }

        private Expr or() {
            Expr left = and();
            while (accept("or") || accept("||")) {
                Expr l = left;
                Expr r = and();
                left = v -> Renderer.truthy(l.eval(v)) || Renderer.truthy(r.eval(v));
            }
            return left;
        }

        private Expr and() {
            Expr left = not();
            while (accept("and") || accept("&&")) {
                Expr l = left;
                Expr r = not();
                left = v -> Renderer.truthy(l.eval(v)) && Renderer.truthy(r.eval(v));
            }
            return left;
        }

        private Expr not() {
            if (accept("not") || accept("!")) {
                Expr inner = not();
                return v -> !Renderer.truthy(inner.eval(v));
            }
            return compare();
        }

        private Expr compare() {
            Expr left = filtered();
            if (accept("==")) {
                Expr right = filtered();
                return v -> Renderer.same(left.eval(v), right.eval(v));
            }
            if (accept("!=") || accept("<>")) {
                Expr right = filtered();
                return v -> !Renderer.same(left.eval(v), right.eval(v));
            }
            return left;
        }

        private Expr filtered() {
            Expr value = primary();
            while (accept("|")) {
                String filter = identifier("a filter name");
                if (!FILTERS.contains(filter)) {
                    throw error("unknown filter \"" + filter + "\"");
                }
                Expr arg = accept(":") ? primary() : null;
                if (filter.equals("default") != (arg != null)) {
                    throw error(filter.equals("default") ? "filter \"default\" needs an argument"
                            : "filter \"" + filter + "\" takes no argument");
                }
                Expr input = value;
                value = switch (filter) {
                    case "default" -> v -> {
                        Object x = input.eval(v);
                        return Renderer.truthy(x) ? x : arg.eval(v);
                    };
                    case "upper" -> v -> Renderer.text(input.eval(v)).toUpperCase(Locale.ROOT);
                    default -> v -> Renderer.text(input.eval(v)).toLowerCase(Locale.ROOT);
                };
            }
            return value;
        }

        private Expr primary() {
            if (next >= tokens.size()) {
                throw error("expression ends too early");
            }
            String t = tokens.get(next++);
            char c = t.charAt(0);
            if (c == '"' || c == '\'') {
                String literal = t.substring(1);
                return v -> literal;
            }
            if (Character.isDigit(c)) {
                try {
                    long n = Long.parseLong(t);
                    return v -> n;
                } catch (NumberFormatException e) {
                    throw error("number " + t + " is too large");
                }
            }
            if (t.equals("(")) {
                Expr inner = or();
                expect(")");
                return inner;
            }
            if (t.equals("true") || t.equals("false")) {
                boolean b = t.equals("true");
                return v -> b;
            }
            if (!isIdentifier(t)) {
                throw error("unexpected \"" + t + "\"");
            }
            String variable = t;
            Expr value = v -> v.variable(variable);
            String path = variable;
            while (true) {
                if (accept(".")) {
                    if (next >= tokens.size()) {
                        throw error("expression ends after \".\"");
                    }
                    String key = tokens.get(next++);
                    if (!isIdentifier(key) && !Character.isDigit(key.charAt(0))) {
                        throw error("unexpected \"" + key + "\" after \".\"");
                    }
                    Expr parent = value;
                    value = v -> Renderer.lookup(parent.eval(v), key);
                    path = path + "." + key;
                } else if (accept("(")) {
                    List<Expr> args = new ArrayList<>();
                    if (!accept(")")) {
                        do {
                            args.add(or());
                        } while (accept(","));
                        expect(")");
                    }
                    Expr function = value;
                    String called = path;
                    value = v -> v.call(called, function.eval(v), args);
                } else {
                    return value;
                }
            }
        }

        private String identifier(String what) {
            if (next >= tokens.size() || !isIdentifier(tokens.get(next))) {
                throw error("expected " + what);
            }
            return tokens.get(next++);
        }

        private boolean accept(String token) {
            if (next < tokens.size() && tokens.get(next).equals(token)) {
                next++;
                return true;
            }
            return false;
        }

        private void expect(String token) {
            if (!accept(token)) {
                throw error("expected \"" + token + "\"");
            }
        }

        private static boolean isIdentifier(String t) {
            return (Character.isLetter(t.charAt(0)) || t.charAt(0) == '_') && !Set.of("and", "or", "not").contains(t);
        }

        /** Tokens: string literals kept with their opening quote (unescaped), numbers, names, operators. */
        private void tokenize(String s) {
            int i = 0;
            while (i < s.length()) {
                char c = s.charAt(i);
                if (Character.isWhitespace(c)) {
                    i++;
                } else if (c == '"' || c == '\'') {
                    StringBuilder literal = new StringBuilder().append(c);
                    int j = i + 1;
                    while (j < s.length() && s.charAt(j) != c) {
                        char d = s.charAt(j);
                        if (d == '\\' && j + 1 < s.length()) {
                            char e = s.charAt(++j);
                            literal.append(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
                        } else {
                            literal.append(d);
                        }
                        j++;
                    }
                    if (j >= s.length()) {
                        throw error("unterminated string " + s.substring(i));
                    }
                    tokens.add(literal.toString());
                    i = j + 1;
                } else if (Character.isDigit(c)) {
                    int j = i;
                    while (j < s.length() && Character.isDigit(s.charAt(j))) {
                        j++;
                    }
                    tokens.add(s.substring(i, j));
                    i = j;
                } else if (Character.isLetter(c) || c == '_') {
                    int j = i;
                    while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                        j++;
                    }
                    tokens.add(s.substring(i, j));
                    i = j;
                } else {
                    String two = i + 1 < s.length() ? s.substring(i, i + 2) : "";
                    if (Set.of("==", "!=", "<>", "&&", "||").contains(two)) {
                        tokens.add(two);
                        i += 2;
                    } else if ("|:.,()!".indexOf(c) >= 0) {
                        tokens.add(String.valueOf(c));
                        i++;
                    } else {
                        throw error("unexpected character '" + c + "'");
                    }
                }
            }
        }

        private InvalidArgumentException error(String problem) {
            return templateError(name, line, problem);
        }
    }

    /** Evaluates a parsed template against the variables. */
    private static final class Renderer {
        private final String name;
        private final Map<String, Object> variables;

        Renderer(String name, Map<String, Object> variables) {
            this.name = name;
            this.variables = variables;
        }

        void render(List<Node> nodes, StringBuilder out) {
            for (Node node : nodes) {
                if (node instanceof Text t) {
                    out.append(t.text());
                } else if (node instanceof Print p) {
                    out.append(text(p.expr().eval(this)));
                } else if (node instanceof If i) {
                    List<Node> chosen = i.otherwise();
                    for (Branch b : i.branches()) {
                        if (truthy(b.condition().eval(this))) {
                            chosen = b.body();
                            break;
                        }
                    }
                    render(chosen, out);
                }
            }
        }

        Object variable(String variable) {
            return variables.get(variable);
        }

        Object call(String path, Object function, List<Expr> args) {
            if (!(function instanceof Function<?, ?> f)) {
                throw new InvalidArgumentException("Failed to render template " + name + ": \"" + path
                        + "\" is not a function");
            }
            List<Object> values = new ArrayList<>();
            for (Expr a : args) {
                values.add(a.eval(this));
            }
            try {
                return apply(f, values);
            } catch (IllegalArgumentException e) {
                throw new InvalidArgumentException("Failed to render template " + name + ": " + e.getMessage(), e);
            }
        }

        @SuppressWarnings("unchecked")
        private static Object apply(Function<?, ?> f, List<Object> args) {
            return ((Function<List<Object>, Object>) f).apply(args);
        }

        static Object lookup(Object parent, String key) {
            if (parent instanceof Map<?, ?> m) {
                return m.get(key);
            }
            if (parent instanceof List<?> l && Character.isDigit(key.charAt(0))) {
                int index = Integer.parseInt(key);
                return index < l.size() ? l.get(index) : null;
            }
            return null;
        }

        /** pongo2's truthiness. */
        static boolean truthy(Object v) {
            if (v == null) {
                return false;
            }
            if (v instanceof Boolean b) {
                return b;
            }
            if (v instanceof String s) {
                return !s.isEmpty();
            }
            if (v instanceof Number n) {
                return n.doubleValue() != 0;
            }
            if (v instanceof Map<?, ?> m) {
                return !m.isEmpty();
            }
            if (v instanceof Collection<?> c) {
                return !c.isEmpty();
            }
            return true;
        }

        /** pongo2's {@code ==}: integers by value, everything else by equality (so {@code 1 != "1"}). */
        static boolean same(Object a, Object b) {
            if (a instanceof Number x && b instanceof Number y) {
                return x.longValue() == y.longValue();
            }
            return Objects.equals(a, b);
        }

        /** pongo2's rendering of a value. */
        static String text(Object v) {
            if (v == null) {
                return "";
            }
            if (v instanceof Boolean b) {
                return b ? "True" : "False";
            }
            return v.toString();
        }
    }
}
