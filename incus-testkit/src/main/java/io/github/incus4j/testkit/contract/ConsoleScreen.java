package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.exec.ConsoleSession;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * What a console session shows, collected by a daemon thread from the moment of attaching, for tests that wait for
 * a text on the console (real drivers relay console output asynchronously) or type until the instance answers.
 */
final class ConsoleScreen {
    private final ConsoleSession session;
    private final StringBuilder text = new StringBuilder();
    private boolean ended;

    private ConsoleScreen(ConsoleSession session) {
        this.session = session;
    }

    /** Starts reading {@code session}'s output; the reader ends with the session. */
    static ConsoleScreen of(ConsoleSession session, String name) {
        ConsoleScreen s = new ConsoleScreen(session);
        Thread t = new Thread(s::pump, "contract-console-" + name);
        t.setDaemon(true);
        t.start();
        return s;
    }

    private void pump() {
        byte[] buf = new byte[4096];
        try {
            int n;
            while ((n = session.output().read(buf)) >= 0) {
                synchronized (this) {
                    text.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
                    notifyAll();
                }
            }
        } catch (InterruptedIOException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            // The session ended under the reader: what was read stays.
        } finally {
            synchronized (this) {
                ended = true;
                notifyAll();
            }
        }
    }

    synchronized String text() {
        return text.toString();
    }

    /** Waits until the screen shows {@code expected}; fails after {@code timeout} or when the output ends first. */
    synchronized void await(String expected, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (text.indexOf(expected) < 0) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0 || ended) {
                fail("no \"" + expected + "\" on the console after " + timeout.toMillis() + " ms"
                        + (ended ? " (output ended)" : "") + "; it showed: " + text);
            }
            wait(left);
        }
    }

    /**
     * Types {@code line} every half second until the screen shows {@code expected} (failing after {@code timeout}):
     * what is typed while the instance is still setting its console up may be lost, and busybox init's
     * {@code askfirst} takes the first line only to start the console's shell.
     */
    void typeUntil(String line, String expected, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            synchronized (this) {
                if (text.indexOf(expected) >= 0) {
                    return;
                }
                if (ended || System.nanoTime() > deadline) {
                    fail("no \"" + expected + "\" on the console after typing " + line.strip() + " for "
                            + timeout.toMillis() + " ms" + (ended ? " (output ended)" : "") + "; it showed: " + text);
                }
            }
            session.input().write(line.getBytes(StandardCharsets.US_ASCII));
            session.input().flush();
            synchronized (this) {
                long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
                while (text.indexOf(expected) < 0 && !ended) {
                    long left = TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime());
                    if (left <= 0) {
                        break;
                    }
                    wait(left);
                }
            }
        }
    }
}
