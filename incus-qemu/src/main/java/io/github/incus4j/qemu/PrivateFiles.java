package io.github.incus4j.qemu;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * What a VM leaves on the host is its owner's alone: a guest's disk, memory state, dumps and console output are as
 * private as the guest. Directories (instance, snapshots, logs, run) are made 0700 and files 0600 as they are created,
 * not changed after: the JVM's files through the attributes here, those of {@code qemu-img} (disks) and of QEMU
 * before it daemonizes (its log) through a umask of 077 given by {@link #withPrivateUmask}. A daemonized QEMU sets its
 * own umask, 027: its state files get a umask of their own (see {@code QemuState}), its screendumps are made 0600 by
 * the driver first, and its sockets (0750: nobody else may connect, which takes the write bit) lie in a 0700
 * directory.
 */
final class PrivateFiles {
    static final FileAttribute<Set<PosixFilePermission>> DIRECTORY = PosixFilePermissions.asFileAttribute(
            PosixFilePermissions.fromString("rwx------"));
    static final FileAttribute<Set<PosixFilePermission>> FILE = PosixFilePermissions.asFileAttribute(
            PosixFilePermissions.fromString("rw-------"));

    private PrivateFiles() {
    }

    /** {@code dir} and its missing parents, each made 0700 (existing ones are left as they are). */
    static Path createDirectories(Path dir) throws IOException {
        return Files.createDirectories(dir, DIRECTORY);
    }

    /** A new or truncated file for writing; a new one is made 0600 (an existing one keeps its mode). */
    static OutputStream create(Path file) throws IOException {
        return open(file, StandardOpenOption.TRUNCATE_EXISTING);
    }

    /** {@code bytes} as the whole content of {@code file} (see {@link #create}). */
    static void write(Path file, byte[] bytes) throws IOException {
        try (OutputStream out = create(file)) {
            out.write(bytes);
        }
    }

    /** {@code bytes} appended to {@code file}, made 0600 if new. */
    static void append(Path file, byte[] bytes) throws IOException {
        try (OutputStream out = open(file, StandardOpenOption.APPEND)) {
            out.write(bytes);
        }
    }

    /** Copies {@code in} to {@code file}, replacing it: a new file of mode 0600. */
    static void copy(InputStream in, Path file) throws IOException {
        Files.deleteIfExists(file);
        try (OutputStream out = create(file)) {
            in.transferTo(out);
        }
    }

    /**
     * Makes {@code file} 0600 when shared code wrote it with the process's umask ({@code metadata.yaml}, templates):
     * no window, as it lies in a 0700 directory that nobody else can enter.
     */
    static void restrict(Path file) throws IOException {
        if (Files.isRegularFile(file)) {
            Files.setPosixFilePermissions(file, EnumSet.of(PosixFilePermission.OWNER_READ,
                    PosixFilePermission.OWNER_WRITE));
        }
    }

    /**
     * {@code cmd} run with a umask of 077 ({@code /bin/sh -c 'umask 077 && exec "$0" "$@"'}), so that whatever it
     * creates is its owner's only; the process then is {@code cmd} itself (exec), with its own argv.
     */
    static List<String> withPrivateUmask(List<String> cmd) {
        List<String> wrapped = new ArrayList<>(List.of("/bin/sh", "-c", "umask 077 && exec \"$0\" \"$@\""));
        wrapped.addAll(cmd);
        return wrapped;
    }

    private static OutputStream open(Path file, StandardOpenOption mode) throws IOException {
        SeekableByteChannel ch = Files.newByteChannel(file, Set.of(StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, mode), FILE);
        return Channels.newOutputStream(ch);
    }
}
