package io.github.incus4j.api.internal.image;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** pongo2's truthiness, equality and lookups on every kind of value a template sees. */
class ImageTemplatesValuesTest {
    private static final Map<String, Object> VARS = values();

    private static Map<String, Object> values() {
        Map<String, Object> v = new HashMap<>();
        v.put("t", true);
        v.put("f", false);
        v.put("s", "x");
        v.put("empty", "");
        v.put("zero", 0);
        v.put("half", 0.5);
        v.put("one", 1);
        v.put("oneLong", 1L);
        v.put("map", Map.of("k", "v"));
        v.put("noMap", Map.of());
        v.put("list", List.of("a", "b"));
        v.put("noList", List.of());
        v.put("other", new Object());
        return v;
    }

    private static String truth(String expr) {
        return ImageTemplates.render("t", "{% if " + expr + " %}yes{% else %}no{% endif %}", VARS);
    }

    @Test
    void truthiness() {
        assertEquals("yes", truth("t"));
        assertEquals("no", truth("f"));
        assertEquals("yes", truth("s"));
        assertEquals("no", truth("empty"));
        assertEquals("no", truth("zero"));
        assertEquals("yes", truth("half"));
        assertEquals("yes", truth("one"));
        assertEquals("yes", truth("map"));
        assertEquals("no", truth("noMap"));
        assertEquals("yes", truth("list"));
        assertEquals("no", truth("noList"));
        assertEquals("yes", truth("other"));
        assertEquals("no", truth("missing"));
    }

    @Test
    void equality() {
        assertEquals("yes", truth("one == oneLong"));
        assertEquals("no", truth("one == zero"));
        assertEquals("no", truth("one == s"));
        assertEquals("yes", truth("s == \"x\""));
        assertEquals("no", truth("s == \"y\""));
        assertEquals("yes", truth("missing == missing"));
    }

    @Test
    void lookups() {
        assertEquals("v", ImageTemplates.render("t", "{{ map.k }}", VARS));
        assertEquals("b", ImageTemplates.render("t", "{{ list.1 }}", VARS));
        assertEquals("", ImageTemplates.render("t", "{{ list.2 }}", VARS));
        assertEquals("", ImageTemplates.render("t", "{{ s.k }}", VARS));
    }
}
