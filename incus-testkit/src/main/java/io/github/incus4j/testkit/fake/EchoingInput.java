package io.github.incus4j.testkit.fake;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * The input of an interactive command: what the command reads is also written to its terminal, as a terminal in its
 * default mode echoes what is typed (a real one echoes at typing time; the fake has no line discipline, so at reading
 * time, which shows the same transcript for a command that reads what it is given).
 */
final class EchoingInput extends InputStream {
    private final InputStream typed;
    private final OutputStream terminal;

    EchoingInput(InputStream typed, OutputStream terminal) {
        this.typed = typed;
        this.terminal = terminal;
    }

    @Override
    public int read() throws IOException {
        int b = typed.read();
        if (b >= 0) {
            terminal.write(b);
        }
        return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        int n = typed.read(b, off, len);
        if (n > 0) {
            terminal.write(b, off, n);
        }
        return n;
    }

    @Override
    public void close() throws IOException {
        typed.close();
    }
}
