package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * When an image template is applied ({@code TemplateTrigger}); the value goes in {@code volatile.apply_template} and in
 * the {@code when} list of {@code metadata.yaml} templates.
 */
@API(status = EXPERIMENTAL)
public enum TemplateTrigger {
    /** The instance was created from an image. */
    CREATE("create"),
    /** The instance was copied from another one. */
    COPY("copy"),
    /** The instance was renamed. */
    RENAME("rename"),
    /** The instance is starting (used internally by Incus, and in {@code metadata.yaml}). */
    START("start");

    private final String value;

    TemplateTrigger(String value) {
        this.value = value;
    }

    /** The string Incus stores and matches, e.g. {@code "create"}. */
    public String value() {
        return value;
    }

    /** Parses a stored trigger name. */
    public static TemplateTrigger of(String value) {
        for (TemplateTrigger t : values()) {
            if (t.value.equals(value)) {
                return t;
            }
        }
        throw new InvalidArgumentException("Unknown template trigger: " + value);
    }

    @Override
    public String toString() {
        return value;
    }
}
