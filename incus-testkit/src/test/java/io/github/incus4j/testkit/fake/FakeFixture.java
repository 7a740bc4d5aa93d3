package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** A fake driver on a temporary root with a hand-advanced clock, and helpers to run commands. */
abstract class FakeFixture {
    static final Duration WAIT = Duration.ofSeconds(5);

    @TempDir
    Path root;
    final TestClock clock = new TestClock(Instant.parse("2025-01-01T00:00:00Z"));
    FakeInstances incus;

    @BeforeEach
    void openDriver() {
        incus = FakeDriver.open(root, WAIT, clock);
    }

    @AfterEach
    void closeDriver() {
        incus.close();
    }

    FakeInstance container(String name) {
        return (FakeInstance) incus.create(InstanceArgs.builder(name).build(), InstanceSource.none());
    }

    FakeInstance busybox(String name) {
        return (FakeInstance) incus.create(InstanceArgs.builder(name).build(),
                InstanceSource.template("busybox", Map.of()));
    }

    FakeInstance vm(String name) {
        return (FakeInstance) incus.create(InstanceArgs.builder(name).type(InstanceType.VM).build(),
                InstanceSource.none());
    }

    /** Runs a command to its end. */
    static Result run(Instance i, ExecRequest request, String stdin) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (Cmd cmd = i.exec(request, stdin == null ? null
                : new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)), out, err)) {
            int status = cmd.waitFor(WAIT);
            return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        }
    }

    static Result run(Instance i, String... argv) {
        return run(i, ExecRequest.of(argv), null);
    }

    static Result sh(Instance i, String script) {
        return run(i, "sh", "-c", script);
    }

    record Result(int status, String out, String err) {
    }

    /** A clock tests move by hand. */
    static final class TestClock extends Clock {
        private volatile Instant now;

        TestClock(Instant now) {
            this.now = now;
        }

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
