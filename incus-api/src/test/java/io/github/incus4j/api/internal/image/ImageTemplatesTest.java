package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.ImageMetadataTemplate;
import io.github.incus4j.api.internal.image.ImageTemplates.Context;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Template rendering (the pongo2 subset) and {@code templateApplyNow}'s rules. */
class ImageTemplatesTest {
    private static final Context CONTAINER = new Context("web1", "container", "x86_64", false, true,
            Map.of("user.meta-data", "key: value\n\n", "security.nesting", "true"),
            Map.of("eth0", Map.of("type", "nic", "network", "incusbr0")));
    private static final Context VM = new Context("vm1", "virtual-machine", "aarch64", true, false, Map.of(), Map.of());

    /** An in-memory file system recording what was written and how. */
    private static final class Files implements ImageTemplates.Target {
        record File(String content, int mode, long uid, long gid) {
        }

        final Map<String, File> files = new TreeMap<>();

        @Override
        public boolean exists(String absolutePath) {
            return files.containsKey(absolutePath);
        }

        @Override
        public void write(String absolutePath, byte[] content, int mode, long uid, long gid) {
            File old = files.get(absolutePath);
            String text = new String(content, UTF_8);
            files.put(absolutePath, old == null ? new File(text, mode, uid, gid)
                    : new File(text, old.mode(), old.uid(), old.gid()));
        }
    }

    private static ImageMetadataTemplate tpl(String template, boolean createOnly, String uid, String gid, String mode,
            String... when) {
        return new ImageMetadataTemplate(List.of(when), createOnly, template, Map.of("default", "#cloud-config\n"),
                uid, gid, mode);
    }

    private static ImageMetadata metadata(Map<String, ImageMetadataTemplate> templates) {
        return new ImageMetadata("x86_64", 0, 0, Map.of(), templates);
    }

    private static Map<String, byte[]> files(String... nameAndText) {
        Map<String, byte[]> m = new HashMap<>();
        for (int i = 0; i < nameAndText.length; i += 2) {
            m.put(nameAndText[i], nameAndText[i + 1].getBytes(UTF_8));
        }
        return m;
    }

    private static String render(String text) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("instance", Map.of("name", "web1", "type", "container", "ephemeral", "false"));
        vars.put("properties", Map.of("default", "#cloud-config"));
        vars.put("empty", "");
        vars.put("n", 0L);
        vars.put("yes", true);
        vars.put("list", List.of("a", "b"));
        vars.put("greet", (java.util.function.Function<List<Object>, Object>) args -> "hi " + args.get(0));
        return ImageTemplates.render("t.tpl", text, vars);
    }

    @Test
    void rendersVariablesLiteralsAndFilters() {
        assertEquals("web1 container", render("{{ instance.name }} {{instance.type}}"));
        assertEquals("[][][]", render("[{{ nothing }}][{{ instance.missing }}][{{ instance.name.deeper }}]"));
        assertEquals("a \"q\" b}}", render("{{ \"a \\\"q\\\" \" }}{{ 'b}}' }}"));
        assertEquals("WEB1 web1 fallback web1", render("{{ instance.name|upper }} {{ \"WEB1\" | lower }} "
                + "{{ empty|default:\"fallback\" }} {{ instance.name|default:\"x\" }}"));
        assertEquals("#cloud-config", render("{{ nothing|default:properties.default }}"));
        assertEquals("True False 0 42 b", render("{{ yes }} {{ not yes }} {{ n }} {{ 42 }} {{ list.1 }}"));
        assertEquals("hi web1", render("{{ greet(instance.name) }}"));
        assertEquals("a  b", render("a {# a comment {{ with tags }} #} b"));
        assertEquals("{ not a tag } {", render("{ not a tag } {"));
    }

    @Test
    void rendersConditions() {
        assertEquals("yes", render("{% if instance.type == \"container\" %}yes{% else %}no{% endif %}"));
        assertEquals("no", render("{% if instance.type != \"container\" %}yes{% else %}no{% endif %}"));
        // pongo2 truthiness: "false" is a non-empty string, so it is true; "", 0 and unknowns are false.
        assertEquals("T", render("{% if instance.ephemeral %}T{% endif %}"));
        assertEquals("", render("{% if empty %}T{% endif %}{% if n %}T{% endif %}{% if nothing %}T{% endif %}"));
        assertEquals("2", render("{% if n %}1{% elif yes and not empty %}2{% else %}3{% endif %}"));
        assertEquals("ok", render("{% if (empty or yes) && !n %}ok{% endif %}"));
        assertEquals("inner", render("{% if yes %}{% if nothing %}x{% else %}inner{% endif %}{% endif %}"));
        assertEquals("false", render("{% if 1 == \"1\" %}true{% else %}false{% endif %}"));
    }

    @Test
    void whitespaceControlTrimsAroundTags() {
        // The shape of distrobuilder's cloud-init network-config template.
        String text = "{%- if empty == \"\" %}\n{%- if yes %}\nversion: 1\n{%- else %}\n{{- empty }}\n{%- endif %}\n"
                + "{%- endif %}\n";
        assertEquals("\nversion: 1\n", render(text));
        assertEquals("a|b", render("a   {{- \"|\" -}}   b"));
    }

    @Test
    void malformedTemplatesAreRefusedWithNameLineAndProblem() {
        Map<String, String> cases = Map.of(
                "x\n{{ instance.name", "line 2: \"{{\" is not closed",
                "{% for x in list %}{% endfor %}", "unknown tag \"for\"",
                "a\n\n{% if yes %}open", "line 3: \"if\" is not closed with \"endif\"",
                "{% else %}", "\"else\" without a matching \"if\"",
                "{% endif %}", "\"endif\" without a matching \"if\"",
                "{{ instance.name|title }}", "unknown filter \"title\"",
                "{{ instance.name == }}", "expression ends too early",
                "{{ \"unterminated }}", "\"{{\" is not closed",
                "{% if %}x{% endif %}", "\"if\" needs a condition",
                "{{ instance.name() }}", "\"instance.name\" is not a function");
        cases.forEach((text, problem) -> {
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> render(text), text);
            assertTrue(e.getMessage().contains("t.tpl"), e.getMessage());
            assertTrue(e.getMessage().contains(problem), text + " -> " + e.getMessage());
        });
        // Parsing covers branches that are never taken.
        assertThrows(InvalidArgumentException.class, () -> render("{% if nothing %}{{ a b }}{% endif %}"));
    }

    @Test
    void appliesTemplatesOnTheirTriggersInPathOrder() {
        Map<String, ImageMetadataTemplate> templates = new HashMap<>();
        templates.put("/etc/hostname", tpl("hostname.tpl", false, null, null, null, "create", "copy"));
        templates.put("/etc/hosts", tpl("hosts.tpl", true, null, null, null, "create"));
        templates.put("/var/lib/cloud/seed/nocloud-net/meta-data", tpl("meta.tpl", false, "1000", "1001", "440",
                "create", "start"));
        templates.put("/etc/start-only", tpl("start.tpl", false, null, null, "0o600", "start"));
        Map<String, byte[]> files = files(
                "hostname.tpl", "{{ container.name }}\n",
                "hosts.tpl", "127.0.1.1 {{ instance.name }} {{ trigger }} {{ path }}\n",
                "meta.tpl", "instance-id: {{ instance.name }}\n{{ config_get(\"user.meta-data\", \"\") }}\n"
                        + "{{ config_get(\"user.missing\", properties.default) }}"
                        + "{{ devices.eth0.network }} {{ instance.privileged }} {{ config.unknown }}",
                "start.tpl", "started {{ instance.architecture }}");
        Files target = new Files();
        target.write("/etc/hosts", "existing".getBytes(UTF_8), 0600, 5, 5);

        List<String> written = ImageTemplates.apply(metadata(templates), files, TemplateTrigger.CREATE, CONTAINER,
                target);
        assertEquals(List.of("/etc/hostname", "/var/lib/cloud/seed/nocloud-net/meta-data"), written);
        assertEquals(new Files.File("web1\n", 0644, 0, 0), target.files.get("/etc/hostname"));
        assertEquals(new Files.File("existing", 0600, 5, 5), target.files.get("/etc/hosts")); // create_only
        assertEquals(new Files.File("instance-id: web1\nkey: value\n#cloud-config\nincusbr0 true ", 0440, 1000, 1001),
                target.files.get("/var/lib/cloud/seed/nocloud-net/meta-data"));

        target.files.remove("/etc/hosts");
        ImageTemplates.apply(metadata(templates), files, TemplateTrigger.CREATE, CONTAINER, target);
        assertEquals("127.0.1.1 web1 create /etc/hosts\n", target.files.get("/etc/hosts").content());

        Files vmTarget = new Files();
        assertEquals(List.of("/etc/start-only", "/var/lib/cloud/seed/nocloud-net/meta-data"),
                ImageTemplates.apply(metadata(templates), files, TemplateTrigger.START, VM, vmTarget));
        assertEquals(new Files.File("started aarch64", 0600, 0, 0), vmTarget.files.get("/etc/start-only"));
        // privileged is only exposed for containers.
        assertTrue(vmTarget.files.get("/var/lib/cloud/seed/nocloud-net/meta-data").content().endsWith("#cloud-config\n  "),
                vmTarget.files.toString());
        assertEquals(List.of(), ImageTemplates.apply(metadata(templates), files, TemplateTrigger.RENAME, VM, vmTarget));
    }

    @Test
    void badTemplatesAreRefusedAndNothingIsWritten() {
        Map<String, byte[]> files = files("ok.tpl", "ok", "bad.tpl", "{% if %}");
        Map<String, String> cases = new HashMap<>();
        cases.put("../escape.tpl", "Invalid template name \"../escape.tpl\"");
        cases.put("sub/x.tpl", "Invalid template name \"sub/x.tpl\"");
        cases.put("missing.tpl", "Template file missing.tpl not found");
        cases.put("bad.tpl", "Failed to parse template bad.tpl");
        cases.forEach((name, problem) -> {
            Map<String, ImageMetadataTemplate> templates = new HashMap<>();
            templates.put("/a-first", tpl("ok.tpl", false, null, null, null, "create"));
            templates.put("/z-bad", tpl(name, false, null, null, null, "create"));
            Files target = new Files();
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                    () -> ImageTemplates.apply(metadata(templates), files, TemplateTrigger.CREATE, CONTAINER, target));
            assertEquals(problem, e.getMessage().substring(0, Math.min(problem.length(), e.getMessage().length())));
            assertEquals(Map.of(), target.files, name);
        });
    }

    @Test
    void modesOwnersAndPathsAreValidated() {
        Map<String, Integer> modes = Map.of("755", 0755, "0640", 0640, "0o600", 0600, "0x1ff", 0777, "4755", -1,
                "abc", -1, "-1", -1, "99999", -1);
        modes.forEach((mode, expected) -> {
            Files target = new Files();
            ImageMetadata m = metadata(Map.of("/f", tpl("ok.tpl", false, null, null, mode, "create")));
            if (expected < 0) {
                InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                        () -> ImageTemplates.apply(m, files("ok.tpl", ""), TemplateTrigger.CREATE, CONTAINER, target));
                assertEquals("Invalid template mode \"" + mode + "\" for /f", e.getMessage());
            } else {
                ImageTemplates.apply(m, files("ok.tpl", ""), TemplateTrigger.CREATE, CONTAINER, target);
                assertEquals(expected, target.files.get("/f").mode(), mode);
            }
        });
        ImageMetadata badUid = metadata(Map.of("/f", tpl("ok.tpl", false, "root", null, null, "create")));
        assertEquals("Invalid template uid \"root\" for /f", assertThrows(InvalidArgumentException.class,
                () -> ImageTemplates.apply(badUid, files("ok.tpl", ""), TemplateTrigger.CREATE, CONTAINER, new Files()))
                .getMessage());
        ImageMetadata escaping = metadata(Map.of("/etc/../../x", tpl("ok.tpl", false, null, null, null, "create")));
        assertThrows(InvalidArgumentException.class,
                () -> ImageTemplates.apply(escaping, files("ok.tpl", ""), TemplateTrigger.CREATE, CONTAINER, new Files()));
        // Relative keys are taken from the guest root, as Incus joins them to the rootfs.
        Files target = new Files();
        ImageTemplates.apply(metadata(Map.of("etc//motd", tpl("ok.tpl", false, null, null, null, "copy"))),
                files("ok.tpl", "hello"), TemplateTrigger.COPY, CONTAINER, target);
        assertEquals(List.of("/etc/motd"), List.copyOf(target.files.keySet()));
    }

    @Test
    void aStartAppliesThePendingTriggerFirstThenTheStartTemplates() {
        ImageMetadata md = metadata(Map.of(
                "/etc/hostname", tpl("hostname.tpl", false, null, null, null, "create", "copy"),
                "/etc/motd", tpl("motd.tpl", false, null, null, null, "start"),
                "/etc/only-copy", tpl("hostname.tpl", false, null, null, null, "copy")));
        Map<String, byte[]> tplFiles = files("hostname.tpl", "{{ instance.name }}\n", "motd.tpl", "hi {{ instance.type }}");
        Files fs = new Files();
        assertEquals(List.of("/etc/hostname", "/etc/only-copy", "/etc/motd"),
                ImageTemplates.applyAtStart(md, tplFiles, "copy", CONTAINER, fs));
        assertEquals("web1\n", fs.files.get("/etc/hostname").content());
        assertEquals("hi container", fs.files.get("/etc/motd").content());
        Files none = new Files();
        assertEquals(List.of("/etc/motd"), ImageTemplates.applyAtStart(md, tplFiles, "", CONTAINER, none));
        assertEquals(List.of("/etc/motd"), ImageTemplates.applyAtStart(md, tplFiles, null, CONTAINER, none));
    }

    @Test
    void theContextIsWhatTheInstanceShows() {
        io.github.incus4j.api.Instance i = org.mockito.Mockito.mock(io.github.incus4j.api.Instance.class);
        org.mockito.Mockito.when(i.name()).thenReturn("c1");
        org.mockito.Mockito.when(i.type()).thenReturn(io.github.incus4j.api.InstanceType.CONTAINER);
        org.mockito.Mockito.when(i.architecture()).thenReturn(io.github.incus4j.api.Architectures.id("aarch64"));
        org.mockito.Mockito.when(i.isEphemeral()).thenReturn(true);
        org.mockito.Mockito.when(i.isPrivileged()).thenReturn(true);
        org.mockito.Mockito.when(i.expandedConfig()).thenReturn(Map.of("user.k", "v"));
        org.mockito.Mockito.when(i.expandedDevices()).thenReturn(new io.github.incus4j.api.model.Devices(Map.of(
                "root", io.github.incus4j.api.model.Device.of("type", "disk", "path", "/"))));
        assertEquals(new Context("c1", "container", "aarch64", true, true, Map.of("user.k", "v"),
                Map.of("root", Map.of("type", "disk", "path", "/"))), Context.of(i));
    }
}
