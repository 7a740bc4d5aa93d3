package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.internal.image.ImageTemplates;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.ImageMetadataTemplate;
import io.github.incus4j.api.internal.image.ImageTemplates.Context;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The template language operator by operator (every spelling, both outcomes), the parser's edges (a tag at the very
 * end of the text, whitespace control around empty bodies) and the checks of {@code apply}'s fields at their bounds.
 */
class ImageTemplatesGrammarTest {
    private static String render(String text) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("yes", true);
        vars.put("no", false);
        vars.put("empty", "");
        vars.put("s", "x");
        vars.put("n", 0L);
        vars.put("one", 1);
        vars.put("_under", "u");
        vars.put("map", Map.of("k", "v", "k2", Map.of("deep", "d")));
        vars.put("list", List.of("a", "b"));
        vars.put("join", (Function<List<Object>, Object>) args -> {
            List<String> parts = new ArrayList<>();
            args.forEach(a -> parts.add(String.valueOf(a)));
            return String.join("+", parts);
        });
        return ImageTemplates.render("g.tpl", text, vars);
    }

    private static String refusal(String text) {
        return assertThrows(InvalidArgumentException.class, () -> render(text), text).getMessage();
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiterString = " => ", quoteCharacter = '`', value = {
        // or / || : the four combinations, both spellings
        "{{ yes or yes }} => True", "{{ yes or no }} => True", "{{ no or yes }} => True", "{{ no or no }} => False",
        "{{ yes || no }} => True", "{{ no || yes }} => True", "{{ no || empty }} => False",
        // and / &&
        "{{ yes and yes }} => True", "{{ yes and no }} => False", "{{ no and yes }} => False", "{{ no and no }} => False",
        "{{ yes && s }} => True", "{{ s && no }} => False", "{{ empty && yes }} => False",
        // not / !
        "{{ not yes }} => False", "{{ not no }} => True", "{{ !yes }} => False", "{{ !empty }} => True", "{{ not not s }} => True",
        // precedence: and binds tighter than or, not tighter than and
        "{{ yes or no and no }} => True", "{{ no and no or yes }} => True", "{{ not no and no }} => False",
        "{{ (yes or no) and no }} => False",
        // comparisons: ==, != and <>, numbers by value, strings by equality, a number never equals its text
        "{{ one == 1 }} => True", "{{ n == 0 }} => True", "{{ one == 2 }} => False", "{{ s == \"x\" }} => True",
        "{{ s == 'y' }} => False", "{{ s != \"x\" }} => False", "{{ s != 'y' }} => True", "{{ s <> 'y' }} => True",
        "{{ one != 1 }} => False", "{{ one == \"1\" }} => False", "{{ nothing == nothing }} => True",
        // literals
        "{{ 'single' }} => single", "{{ \"dou'ble\" }} => dou'ble", "{{ 'it\\'s' }} => it's", "{{ 42 }} => 42",
        "{{ true }} => True", "{{ false }} => False",
        // names: underscores and digits, dotted lookups into maps and lists
        "{{ _under }} => u", "{{ map.k }} => v", "{{ map.k2.deep }} => d", "{{ list.0 }}{{ list.1 }}{{ list.2 }} => ab",
        "{{ map.missing.deeper }} => ``", "{{ s.k }} => ``",
        // filters, chained, with an argument that is itself a lookup
        "{{ s|upper }} => X", "{{ 'AbC'|lower }} => abc", "{{ s|upper|lower }} => x", "{{ empty|default:'d' }} => d",
        "{{ s|default:'d' }} => x", "{{ nothing|default:map.k|upper }} => V", "{{ n|default:7 }} => 7",
        // calls: no argument, several, nested expressions as arguments
        "{{ join() }} => ``", "{{ join(s, 1, yes) }} => x+1+true", "{{ join(s == 'x', (no or s)) }} => true+true",
        // whitespace control on both sides, on every kind of tag
        "a {{- s -}} b => axb", "a {%- if yes -%} y {%- endif -%} b => ayb", "a {#- c -#} b => ab",
        "`{{ s -}}   ` => x", "`   {{- s }}` => x",
    })
    void expressions(String template, String expected) {
        assertEquals(expected, render(template));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiterString = " => ", quoteCharacter = '`', value = {
        "{% if yes %}1{% elif yes %}2{% else %}3{% endif %} => 1",
        "{% if no %}1{% elif yes %}2{% else %}3{% endif %} => 2",
        "{% if no %}1{% elif no %}2{% else %}3{% endif %} => 3",
        "{% if no %}1{% elif no %}2{% endif %} => ``",
        "{% if map %}m{% endif %}{% if list %}l{% endif %}{% if one %}1{% endif %} => ml1",
        "{% if yes %}a{% if no %}b{% elif s %}c{% endif %}d{% endif %} => acd",
    })
    void conditions(String template, String expected) {
        assertEquals(expected, render(template));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiterString = " => ", quoteCharacter = '`', value = {
        "{{ }} => line 1: empty {{ }}",
        "{{-}} => line 1: empty {{ }}",
        "{{- -}} => line 1: empty {{ }}",
        "{%  %} => line 1: empty {% %}",
        "abc {{ => line 1: \"{{\" is not closed with \"}}\"",
        "abc {% => line 1: \"{%\" is not closed with \"%}\"",
        "{{ 'x }}'  => line 1: \"{{\" is not closed with \"}}\"",
        "{% else %} => line 1: \"else\" without a matching \"if\"",
        "{% elif yes %} => line 1: \"elif\" without a matching \"if\"",
        "{% if yes %}{% else %}{% else %}{% endif %} => line 1: \"else\" without a matching \"if\"",
        "{% if yes %}{% else %}{% elif no %}{% endif %} => line 1: \"elif\" without a matching \"if\"",
        "{% if yes %}{% else no %}{% endif %} => line 1: \"else\" takes no arguments",
        "{% endif %} => line 1: \"endif\" without a matching \"if\"",
        "{% if yes %}{% endif yes %} => line 1: \"endif\" takes no arguments",
        "{% if yes %}{% elif %}{% endif %} => line 1: \"elif\" needs a condition",
        "{% for x in list %} => line 1: unknown tag \"for\"",
        "{{ s|title }} => line 1: unknown filter \"title\"",
        "{{ s|upper:'x' }} => line 1: filter \"upper\" takes no argument",
        "{{ s|lower:'x' }} => line 1: filter \"lower\" takes no argument",
        "{{ s|default }} => line 1: filter \"default\" needs an argument",
        "{{ s| }} => line 1: expected a filter name",
        "{{ s|1 }} => line 1: expected a filter name",
        "{{ s|and }} => line 1: expected a filter name",
        "{{ (yes }} => line 1: expected \")\"",
        "{{ join(s }} => line 1: expected \")\"",
        "{{ yes or }} => line 1: expression ends too early",
        "{{ and }} => line 1: unexpected \"and\"",
        "{{ or }} => line 1: unexpected \"or\"",
        "{{ ) }} => line 1: unexpected \")\"",
        "{{ s s }} => line 1: unexpected \"s\"",
        "{{ map. }} => line 1: expression ends after \".\"",
        "{{ map.( }} => line 1: unexpected \"(\" after \".\"",
        "{{ 99999999999999999999 }} => line 1: number 99999999999999999999 is too large",
        "{{ 'open }} => line 1: \"{{\" is not closed with \"}}\"",
        "{{ s = 'x' }} => line 1: unexpected character '='",
        "{{ s & yes }} => line 1: unexpected character '&'",
        "{{ s ! }} => line 1: unexpected \"!\"",
    })
    void malformed(String template, String problem) {
        assertEquals("Failed to parse template g.tpl: " + problem, refusal(template));
    }

    @Test
    void escapesAndLines() {
        assertEquals("a\nb a\tb a\rb a\\b", render("{{ 'a\\nb' }} {{ 'a\\tb' }} {{ \"a\\rb\" }} {{ 'a\\\\b' }}"));
        assertEquals("Failed to parse template g.tpl: line 3: \"{#\" is not closed with \"#}\"",
                refusal("x\ny\n{# open"));
        assertEquals("Failed to parse template g.tpl: line 1: \"if\" is not closed with \"endif\"",
                refusal("{% if yes %}\n{% if no %}{% endif %}"));
        assertEquals("Failed to parse template g.tpl: line 2: \"if\" needs a condition",
                refusal("\n{% if %}{% endif %}"));
    }

    @Test
    void renderErrorsNameTheTemplate() {
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> render("{{ s(1) }}"));
        assertEquals("Failed to render template g.tpl: \"s\" is not a function", e.getMessage());
        assertEquals("", ImageTemplates.render("n.tpl", "{{ x }}", null), "no variables: everything renders empty");
    }

    // ---- apply() at its bounds -------------------------------------------------------------------------------

    private static final Context CONTAINER = new Context("c1", "container", "x86_64", false, false, null, null);

    private static ImageMetadataTemplate tpl(String template, String uid, String gid, String mode, String... when) {
        return new ImageMetadataTemplate(List.of(when), false, template, Map.of(), uid, gid, mode);
    }

    private static Map<String, String> apply(Map<String, ImageMetadataTemplate> templates, String templateText,
            TemplateTrigger trigger, Context context) {
        Map<String, String> written = new LinkedHashMap<>();
        ImageTemplates.apply(new ImageMetadata("x86_64", 0, 0, Map.of(), templates),
                Map.of("t.tpl", templateText.getBytes(UTF_8)), trigger, context, new ImageTemplates.Target() {
                    @Override
                    public boolean exists(String absolutePath) {
                        return false;
                    }

                    @Override
                    public void write(String absolutePath, byte[] content, int mode, long uid, long gid) {
                        written.put(absolutePath, new String(content, UTF_8) + " " + Integer.toOctalString(mode)
                                + " " + uid + ":" + gid);
                    }
                });
        return written;
    }

    @Test
    void modesAndOwnersAtTheirBounds() {
        assertEquals(Map.of("/f", "x 0 0:0"), apply(Map.of("/f", tpl("t.tpl", "0", "0", "0", "create")), "x",
                TemplateTrigger.CREATE, CONTAINER));
        assertEquals(Map.of("/f", "x 7777 4294967295:1"), apply(Map.of("/f", tpl("t.tpl", "4294967295", "1",
                "07777", "create")), "x", TemplateTrigger.CREATE, CONTAINER));
        assertEquals(Map.of("/f", "x 644 0:0"), apply(Map.of("/f", tpl("t.tpl", "", "", "", "create")), "x",
                TemplateTrigger.CREATE, CONTAINER));
        // Go's base prefixes: 0b, and a bare decimal; one digit is decimal, not octal.
        assertEquals(Map.of("/f", "x 5 0:0"), apply(Map.of("/f", tpl("t.tpl", null, null, "0b101", "create")),
                "x", TemplateTrigger.CREATE, CONTAINER));
        assertEquals(Map.of("/f", "x 7 0:0"), apply(Map.of("/f", tpl("t.tpl", null, null, "7", "create")),
                "x", TemplateTrigger.CREATE, CONTAINER));
        assertEquals(Map.of("/f", "x 10 0:0"), apply(Map.of("/f", tpl("t.tpl", null, null, "010", "create")),
                "x", TemplateTrigger.CREATE, CONTAINER));
        for (String mode : new String[] {"010000", "0o10000", "08", "0x"}) {
            assertEquals("Invalid template mode \"" + mode + "\" for /f", assertThrows(InvalidArgumentException.class,
                    () -> apply(Map.of("/f", tpl("t.tpl", null, null, mode, "create")), "x", TemplateTrigger.CREATE,
                            CONTAINER), mode).getMessage());
        }
        assertEquals("Invalid template gid \"-1\" for /f", assertThrows(InvalidArgumentException.class,
                () -> apply(Map.of("/f", tpl("t.tpl", "0", "-1", null, "create")), "x", TemplateTrigger.CREATE,
                        CONTAINER)).getMessage());
        assertEquals("Invalid template uid \"-1\" for /f", assertThrows(InvalidArgumentException.class,
                () -> apply(Map.of("/f", tpl("t.tpl", "-1", "0", null, "create")), "x", TemplateTrigger.CREATE,
                        CONTAINER)).getMessage());
    }

    @Test
    void namesPathsAndEntriesAreChecked() {
        assertEquals("Invalid template name \"\" for /f: it must be a plain file name inside templates/",
                assertThrows(InvalidArgumentException.class, () -> apply(Map.of("/f", tpl("", null, null, null,
                        "create")), "x", TemplateTrigger.CREATE, CONTAINER)).getMessage());
        assertEquals("Invalid template name \"..t.tpl\" for /f: it must be a plain file name inside templates/",
                assertThrows(InvalidArgumentException.class, () -> apply(Map.of("/f", tpl("..t.tpl", null, null, null,
                        "create")), "x", TemplateTrigger.CREATE, CONTAINER)).getMessage());
        assertEquals("Invalid template target path \"/a/../b\": it contains ..",
                assertThrows(InvalidArgumentException.class, () -> apply(Map.of("/a/../b", tpl("t.tpl", null, null,
                        null, "create")), "x", TemplateTrigger.CREATE, CONTAINER)).getMessage());
        assertEquals("Invalid template target path \"/./\"",
                assertThrows(InvalidArgumentException.class, () -> apply(Map.of("/./", tpl("t.tpl", null, null,
                        null, "create")), "x", TemplateTrigger.CREATE, CONTAINER)).getMessage());
        // No metadata: nothing to write.
        assertEquals(List.of(), ImageTemplates.apply(null, Map.of(), TemplateTrigger.CREATE, CONTAINER, null));
        // A missing file table is "not found", not a crash.
        assertEquals("Template file t.tpl not found", assertThrows(InvalidArgumentException.class,
                () -> ImageTemplates.apply(new ImageMetadata("x86_64", 0, 0, Map.of(), Map.of("/b", tpl("t.tpl", null,
                        null, null, "create"))), null, TemplateTrigger.CREATE, CONTAINER, null)).getMessage());
    }

    @Test
    void variablesSeenByTemplates() {
        // A null config and devices are empty; config_get needs exactly two arguments and trims trailing newlines.
        assertEquals(Map.of("/f", "[] [] fallback [] 644 0:0"), apply(Map.of("/f", tpl("t.tpl", null, null, null,
                "create")), "[{{ config.a }}] [{{ devices.eth0 }}] {{ config_get('a', 'fallback') }} []",
                TemplateTrigger.CREATE, CONTAINER));
        Context vm = new Context("v1", "virtual-machine", "x86_64", true, true,
                Map.of("user.x", "line\n\r\n", "user.y", "a\nb"), Map.of());
        assertEquals(Map.of("/f", "line|a\nb|true|[] 644 0:0"), apply(Map.of("/f", tpl("t.tpl", null, null, null,
                "start")), "{{ config_get('user.x', '') }}|{{ config_get('user.y', '') }}|{{ instance.ephemeral }}"
                + "|[{{ instance.privileged }}]", TemplateTrigger.START, vm));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> apply(Map.of("/f",
                tpl("t.tpl", null, null, null, "create")), "{{ config_get('a') }}", TemplateTrigger.CREATE, CONTAINER));
        assertEquals("Failed to render template t.tpl: config_get takes 2 arguments, got 1", e.getMessage());
    }
}
