package io.github.incus4j.qemu.qmp;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Set;

/**
 * The QMP wire log, Incus's {@code qemu.qmp.log}: {@code [RFC3339] QUERY: <request>}, {@code [RFC3339] REPLY:
 * <reply>} followed by an empty line, {@code [RFC3339] Event: <event>}. Appended to (created 0600); a failing write
 * is logged and never fails the command.
 */
final class QmpLog implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(QmpLog.class.getName());

    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    private static final DateTimeFormatter RFC3339 = DateTimeFormatter.ISO_OFFSET_DATE_TIME;

    private final Path path;
    private final FileChannel file;

    private QmpLog(Path path, FileChannel file) {
        this.path = path;
        this.file = file;
    }

    static QmpLog open(Path path) {
        try {
            if (!Files.exists(path)) {
                Files.createFile(path, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
            }
            return new QmpLog(path, FileChannel.open(path, StandardOpenOption.WRITE, StandardOpenOption.APPEND));
        } catch (IOException | UnsupportedOperationException e) {
            throw new QmpException("Failed to open the QMP log " + path + ": " + e.getMessage(), e);
        }
    }

    void query(byte[] request) {
        int end = request.length;
        while (end > 0 && (request[end - 1] == '\n' || request[end - 1] == '\r')) {
            end--;
        }
        write("QUERY", new String(request, 0, end, StandardCharsets.UTF_8), "\n");
    }

    void reply(String reply) {
        write("REPLY", reply, "\n\n");
    }

    void event(String event) {
        write("Event", event, "\n");
    }

    private void write(String kind, String json, String end) {
        String time = OffsetDateTime.now().truncatedTo(ChronoUnit.SECONDS).format(RFC3339);
        String text = "[" + time + "] " + kind + ": " + json + end;
        ByteBuffer line = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        try {
            // One append per line: lines of concurrent callers never interleave.
            synchronized (this) {
                while (line.hasRemaining()) {
                    file.write(line);
                }
            }
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "Writing the QMP log {0} failed: {1}", path, e.toString());
        }
    }

    @Override
    public void close() {
        try {
            file.close();
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "Closing the QMP log {0} failed: {1}", path, e.toString());
        }
    }
}
