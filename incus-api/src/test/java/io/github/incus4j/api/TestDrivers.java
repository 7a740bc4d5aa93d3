package io.github.incus4j.api;

import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.api.spi.InstanceDriver;
import java.nio.file.Path;
import java.util.Map;

/** Providers registered in the test class path's META-INF/services, to exercise driver selection. */
final class TestDrivers {
    private TestDrivers() {
    }

    /** Always applicable, high priority. */
    public static final class Alpha extends Base {
        public Alpha() {
            super("test-alpha", 50, Applicability.yes());
        }
    }

    /** Never applicable: the reason must surface in selection errors. */
    public static final class Broken extends Base {
        public Broken() {
            super("test-broken", 100, Applicability.no("no /dev/kvm on this host"));
        }
    }

    /** Applicable, low priority. */
    public static final class Omega extends Base {
        public Omega() {
            super("test-omega", -10, Applicability.yes());
        }
    }

    /** Its applicability check throws: selection must report it, not fail. */
    public static final class Throwing extends Base {
        public Throwing() {
            super("test-throwing", 75, null);
        }

        @Override
        public Applicability applicability() {
            throw new IllegalStateException("probe exploded");
        }
    }

    abstract static class Base implements InstanceDriver {
        private final String name;
        private final int priority;
        private final Applicability applicability;

        Base(String name, int priority, Applicability applicability) {
            this.name = name;
            this.priority = priority;
            this.applicability = applicability;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public int priority() {
            return priority;
        }

        @Override
        public Applicability applicability() {
            return applicability;
        }

        @Override
        public Info info() {
            return new Info(name, "1.0", null, InstanceType.ANY, Map.of());
        }

        @Override
        public Instances open(Path root) {
            throw new UnsupportedOperationException("selection tests never open a driver");
        }
    }
}
