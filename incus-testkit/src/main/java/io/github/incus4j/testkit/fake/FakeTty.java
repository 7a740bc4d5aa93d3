package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import java.io.OutputStream;

/**
 * The console line of one fake instance: its {@link FakeConsole}, created on first use and kept across stops (like
 * the ring buffer it holds), whose getty runs a typed line as {@code sh -c line} in the instance with the output on
 * the console. Reading the log of an instance whose console was never opened gives nothing and opens none.
 */
final class FakeTty {
    private final FakeInstance instance;
    private final Lazy<FakeConsole> console;

    FakeTty(FakeInstance instance) {
        this.instance = instance;
        this.console = new Lazy<>(instance, () -> new FakeConsole(instance::name, this::runLine));
    }

    /** The console, opened on first use. */
    FakeConsole console() {
        return console.get();
    }

    /** The console if one was opened, else {@code null}. */
    FakeConsole ifOpen() {
        return console.peek();
    }

    /** The console's shell running a typed line: {@code sh -c line}, its output on the console. */
    private void runLine(String line, OutputStream terminal, Runnable done) {
        Cmd c;
        try {
            c = instance.doExec(ExecRequest.of("sh", "-c", line), null, terminal, terminal);
        } catch (IncusException stopped) {
            return; // the instance stopped meanwhile: no shell to prompt
        }
        ((Task) c).exited().thenRun(done);
    }

    /** The console log text; {@code clear} empties it. */
    String text(long max, boolean clear) {
        FakeConsole c = console.peek();
        return c == null ? "" : c.read(max, clear);
    }

    /** Takes up to {@code max} bytes of the console log (all when {@code max <= 0}): a read that consumes. */
    String take(long max) {
        FakeConsole c = console.peek();
        return c == null ? "" : c.take(max);
    }
}
