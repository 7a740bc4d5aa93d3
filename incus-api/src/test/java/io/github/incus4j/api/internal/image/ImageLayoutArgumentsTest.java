package io.github.incus4j.api.internal.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.model.ImageMetadata;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the image writers refuse before writing, and what they accept as "none". */
class ImageLayoutArgumentsTest {
    private static final ImageMetadata METADATA = new ImageMetadata("x86_64", 0, 0, Map.of(), Map.of());

    private static String refusal(Runnable r) {
        return assertThrows(InvalidArgumentException.class, r::run).getMessage();
    }

    @Test
    void missingStreamsAndMetadataAreNamed() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals("No output stream for the rootfs of a split image",
                refusal(() -> ImageLayout.writeSplit(out, null, METADATA, null, null, null)));
        assertEquals(0, out.size(), "nothing written before the refusal");
        assertEquals("No output stream for the image", refusal(() -> ImageLayout.writeUnified(null, METADATA, null, null,
                null)));
        assertEquals("Missing metadata.yaml for the image",
                refusal(() -> ImageLayout.writeUnified(new ByteArrayOutputStream(), null, null, null, null)));
        assertEquals("Missing metadata.yaml for the image",
                refusal(() -> ImageLayout.writeSplit(new ByteArrayOutputStream(), new ByteArrayOutputStream(), null, null,
                        null, null)));
    }

    @Test
    void badTemplateNamesAreRefusedFirst() {
        for (String name : new String[] {"a/b", "", "..x"}) {
            Map<String, byte[]> templates = new HashMap<>();
            templates.put(name, new byte[0]);
            ByteArrayOutputStream meta = new ByteArrayOutputStream();
            String expected = "Invalid template file name \"" + name + "\": it must be a plain file name inside"
                    + " templates/";
            // Checked before the missing rootfs stream and before the first byte.
            assertEquals(expected, refusal(() -> ImageLayout.writeSplit(meta, null, METADATA, templates, null, null)));
            assertEquals(0, meta.size());
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            assertEquals(expected, refusal(() -> ImageLayout.writeUnified(out, METADATA, templates, null, null)));
            assertEquals(0, out.size());
        }
    }

    @Test
    void noRootfsWriterAndNoTemplatesMakeAMetadataOnlyImage() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageLayout.writeUnified(out, METADATA, null, null, null);
        Map<String, byte[]> templates = new HashMap<>();
        ImageMetadata back = ImageLayout.readUnified(new ByteArrayInputStream(out.toByteArray()), templates, null);
        assertEquals(METADATA, back);
        assertTrue(templates.isEmpty());
    }
}
