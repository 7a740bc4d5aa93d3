package io.github.incus4j.api.internal.image;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * xz decompression through XZ Utils' {@code xz} tool when it is installed, as GNU tar does: liblzma decodes about
 * 1.8 times as fast as XZ for Java (measured on the benchmark machine), and in its own process, beside the JVM thread
 * that unpacks what it decodes. A named daemon thread feeds the compressed stream to the tool's standard input; what
 * the tool refuses (corrupt or truncated data, garbage after the stream) is an {@link IOException} carrying its
 * message, raised at the end of the decoded data, as XZ for Java raises it when its check fails. Without the tool, or
 * with the system property {@code incus4j.image.native-xz} set to {@code false}, {@link #decompress} returns null and
 * the caller uses XZ for Java.
 */
final class NativeXz extends InputStream {
    static final String PROPERTY = "incus4j.image.native-xz";
    /** Bounds a whole decompression: a stalled tool is killed, which ends the reader's wait with an error. */
    private static final long LIMIT_MINUTES = 30;
    /** Waiting for the tool to exit and the feeder to end once the decoded data has ended. */
    private static final long EXIT_SECONDS = 60;
    private static final AtomicInteger THREADS = new AtomicInteger();

    private final Process process;
    private final InputStream decoded;
    private final Thread feeder;
    private volatile IOException feedFailure;
    private boolean finished;

    private NativeXz(Process process, InputStream compressed) {
        this.process = process;
        this.decoded = process.getInputStream();
        process.onExit().orTimeout(LIMIT_MINUTES, TimeUnit.MINUTES).exceptionally(t -> {
            process.destroyForcibly();
            return null;
        });
        this.feeder = new Thread(() -> feed(compressed), "incus4j-image-xz-feed-" + THREADS.incrementAndGet());
        feeder.setDaemon(true);
        feeder.start();
    }

    /** The decoded content of {@code compressed} (an xz stream) through the xz tool; null when it is not used. */
    static InputStream decompress(InputStream compressed) {
        if (tool() == null) {
            return null;
        }
        Process p;
        try {
            // By name, found on the PATH as above: the tool's messages then start with "xz: ".
            p = new ProcessBuilder("xz", "--decompress", "--stdout", "--format=xz", "--threads=0")
                    .redirectError(ProcessBuilder.Redirect.PIPE).start();
        } catch (IOException e) {
            return null; // not executable after all: XZ for Java reads it
        }
        return new NativeXz(p, compressed);
    }

    /** The xz tool on the {@code PATH}, or null (absent, or turned off by {@link #PROPERTY}). */
    static Path tool() {
        if ("false".equals(System.getProperty(PROPERTY))) {
            return null;
        }
        String path = System.getenv("PATH");
        for (String dir : (path == null ? "" : path).split(File.pathSeparator)) {
            if (!dir.isEmpty()) {
                Path xz = Path.of(dir, "xz");
                if (Files.isRegularFile(xz) && Files.isExecutable(xz)) {
                    return xz;
                }
            }
        }
        return null;
    }

    /** Copies the compressed stream to the tool; a failure of the caller's stream ends the tool. */
    private void feed(InputStream compressed) {
        byte[] buffer = new byte[1 << 16];
        try (OutputStream stdin = process.getOutputStream()) {
            int n;
            while ((n = read(compressed, buffer)) >= 0) {
                stdin.write(buffer, 0, n);
            }
        } catch (IOException e) {
            // The tool stopped reading (it refused the data, or the reader gave up): its exit status tells.
        }
    }

    private int read(InputStream compressed, byte[] buffer) throws IOException {
        try {
            return compressed.read(buffer);
        } catch (IOException | RuntimeException e) {
            // The reader gets this at the end of the decoded data, which killing the tool brings at once.
            feedFailure = e instanceof IOException io ? io : new IOException(e.getMessage(), e);
            process.destroyForcibly();
            throw feedFailure;
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        int n = finished ? -1 : decoded.read(b, off, len);
        if (n < 0 && !finished) {
            finish();
        }
        return n;
    }

    /** At the end of the decoded data: the tool's verdict. */
    private void finish() throws IOException {
        finished = true;
        int exit;
        try {
            feeder.join(TimeUnit.SECONDS.toMillis(EXIT_SECONDS));
            if (!process.waitFor(EXIT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("xz did not exit within " + EXIT_SECONDS + " s after its output ended");
            }
            exit = process.exitValue();
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("Interrupted while waiting for xz");
        }
        if (feedFailure != null) {
            throw feedFailure;
        }
        if (exit != 0) {
            String message;
            try (InputStream err = process.getErrorStream()) {
                message = new String(err.readNBytes(4096), StandardCharsets.UTF_8).strip();
            }
            throw new IOException(message.isEmpty() ? "xz failed (exit " + exit + ")" : message);
        }
    }

    /** Ends the tool if its output was not read to the end (the reader gave up). */
    @Override
    public void close() throws IOException {
        if (!finished) {
            finished = true;
            process.destroyForcibly();
        }
        decoded.close();
        process.getErrorStream().close();
    }
}
