package io.github.incus4j.qemu;

import static io.github.incus4j.qemu.QemuHost.deleteQuietly;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.QmpException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * What a VM's screen and memory give out as files: the serial console's log (the ring buffer drained into
 * {@code console.log}, as Incus does), a screenshot of the VGA display ({@code screendump}) and a dump of the guest's
 * memory ({@code dump-guest-memory}), each made in the run directory and copied to the caller. Made for one call
 * from the VM's current paths.
 */
final class VmConsole {
    // The messages keep the logger of QemuVm, whose code this was.
    private static final System.Logger LOG = System.getLogger(QemuVm.class.getName());

    private final String name;
    private final Path logPath;
    private final Path consoleLog;

    VmConsole(String name, Path logPath, Path consoleLog) {
        this.name = name;
        this.logPath = logPath;
        this.consoleLog = consoleLog;
    }

    /** The whole {@code console.log}, {@code m}'s ring buffer (null: stopped) drained into it first. */
    String log(Machine m) {
        if (m != null) {
            save(m);
        }
        try {
            return Files.exists(consoleLog) ? Files.readString(consoleLog, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw HostIo.failure("Cannot read the console log of " + name, e);
        }
    }

    /** Drains the serial ring buffer into {@code console.log} (nothing while a console is attached). */
    void save(Machine m) {
        StringBuilder sb = new StringBuilder();
        try {
            while (true) {
                JsonNode r = m.qmp.execute("ringbuf-read", Map.of("device", "console", "size", 65536,
                        "format", "utf8"));
                String chunk = r.asText("");
                if (chunk.isEmpty()) {
                    break;
                }
                sb.append(chunk);
            }
        } catch (QmpException e) {
            LOG.log(System.Logger.Level.DEBUG, "ringbuf-read of {0}: {1}", name, e.getMessage());
        }
        if (sb.length() == 0) {
            return;
        }
        try {
            PrivateFiles.createDirectories(logPath);
            PrivateFiles.append(consoleLog, sb.toString().getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw HostIo.failure("Cannot save the console log of " + name, e);
        }
    }

    /** A PNG of {@code m}'s display, written to {@code png}. */
    static void screenshot(Machine m, OutputStream png) {
        Path tmp = m.run.dir().resolve("screenshot-" + UUID.randomUUID() + ".png");
        try {
            PrivateFiles.write(tmp, new byte[0]); // QEMU truncates it, keeping the mode (its own umask is 027)
            m.qmp.execute("screendump", Map.of("filename", tmp.toString(), "format", "png"));
            Files.copy(tmp, png);
        } catch (IncusException e) {
            throw new IncusException("Failed taking screenshot: " + e.getMessage(), e);
        } catch (IOException e) {
            throw HostIo.failure("Failed taking screenshot", e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /** Refuses a memory dump format QEMU does not name. */
    static void checkDumpFormat(String format) {
        if (format == null || !format.matches("elf|kdump-zlib|kdump-lzo|kdump-snappy|win-dmp")) {
            throw new InvalidArgumentException("Unsupported dump format " + ErrorTexts.quote(String.valueOf(format))
                    + ": expected elf, kdump-zlib, kdump-lzo, kdump-snappy or win-dmp");
        }
    }

    /**
     * {@code dump-guest-memory} (detached, followed with {@code query-dump}) into a file of the run directory,
     * then copied to {@code out}.
     */
    static void dumpMemory(Machine m, OutputStream out, String format) {
        Path tmp = m.run.dir().resolve("memory-" + UUID.randomUUID() + ".dump");
        try {
            m.qmp.execute("dump-guest-memory", Map.of("paging", false, "protocol", "file:" + tmp, "format", format,
                    "detach", true));
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
            while (true) {
                String status = m.qmp.execute("query-dump").path("status").asText();
                if (status.equals("completed")) {
                    break;
                }
                if (status.equals("failed") || System.nanoTime() > deadline) {
                    throw new IncusException("Guest memory dump failed");
                }
                Thread.sleep(50);
            }
            Files.copy(tmp, out);
        } catch (QmpException e) {
            throw new IncusException("Guest memory dump failed: " + e.getMessage(), e);
        } catch (IOException e) {
            throw HostIo.failure("Guest memory dump failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Guest memory dump interrupted", e);
        } finally {
            deleteQuietly(tmp);
        }
    }
}
