package io.github.incus4j.testkit.fake;

import io.github.incus4j.testkit.fake.MemFs.Dir;
import io.github.incus4j.testkit.fake.MemFs.File;
import io.github.incus4j.testkit.fake.MemFs.Link;
import io.github.incus4j.testkit.fake.MemFs.Node;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The guest's {@code /dev/shm}, a tmpfs: its files live in the instance's memory, so every boot starts with it empty,
 * a stop loses it, and only a saved state (stateful stop, stateful snapshot, live migration) carries it over, as
 * CRIU's dump and QEMU's RAM image do. The fake keeps it in the instance's tree while running (so exec and SFTP see
 * it) and moves it in and out of the {@link SavedState} at the edges.
 */
final class Tmpfs {
    /** The mount point, as canonical path components. */
    static final List<String> MOUNT = List.of("dev", "shm");
    private static final Base64.Encoder B64 = Base64.getEncoder();
    private static final Base64.Decoder UNB64 = Base64.getDecoder();

    private Tmpfs() {
    }

    /** A freshly mounted, empty tmpfs ({@code mode=1777}). */
    static Dir empty(long now) {
        return new Dir(01777, 0, 0, now);
    }

    /** The tmpfs content of {@code root}, or an empty one when there is none. */
    static Dir take(Dir root, long now) {
        return root.get("dev") instanceof Dir dev && dev.get("shm") instanceof Dir shm ? shm : empty(now);
    }

    /** {@code root} with {@code shm} mounted on {@code /dev/shm} (creating {@code /dev} if missing). */
    static Dir mount(Dir root, Dir shm, long now) {
        Dir r = root;
        if (!(r.get("dev") instanceof Dir)) {
            r = r.with("dev", new Dir(0755, 0, 0, now), now);
        }
        return MemFs.update(r, MOUNT, now, old -> shm);
    }

    /** {@code root} as its disk holds it: {@code /dev/shm} empty (what a snapshot or a stopped instance shows). */
    static Dir unmounted(Dir root, long now) {
        Dir shm = take(root, now);
        return shm.isEmpty() ? root : mount(root, empty(now), now);
    }

    // ---- text form inside the saved state: one line per entry, depth first -------------------------------------

    /** The entries of {@code shm} as {@code kind:perm:uid:gid:mtime:path:data} lines (path and data in base64). */
    static List<String> encode(Dir shm) {
        List<String> out = new ArrayList<>();
        out.add(line("d", shm, "", new byte[0]));
        encode(shm, "", out);
        return out;
    }

    private static void encode(Dir dir, String prefix, List<String> out) {
        for (int i = 0; i < dir.names.length; i++) {
            String path = prefix + dir.names[i];
            Node n = dir.kids[i];
            if (n instanceof File f) {
                out.add(line("f", n, path, f.data));
            } else if (n instanceof Link l) {
                out.add(line("l", n, path, l.target.getBytes(StandardCharsets.UTF_8)));
            } else if (n instanceof Dir d) {
                out.add(line("d", n, path, new byte[0]));
                encode(d, path + "/", out);
            }
        }
    }

    private static String line(String kind, Node n, String path, byte[] data) {
        return kind + ":" + Integer.toOctalString(n.perm) + ":" + n.uid + ":" + n.gid + ":" + n.mtime + ":"
                + B64.encodeToString(path.getBytes(StandardCharsets.UTF_8)) + ":" + B64.encodeToString(data);
    }

    /** The tree {@link #encode} wrote; {@code null} for no lines (a state saved before tmpfs was kept). */
    static Dir decode(List<String> lines) {
        if (lines.isEmpty()) {
            return null;
        }
        MemFs.Builder b = null;
        for (String line : lines) {
            String[] f = line.split(":", -1);
            if (f.length != 7) {
                throw new IllegalArgumentException("bad tmpfs entry " + line);
            }
            int perm = Integer.parseInt(f[1], 8);
            int uid = Integer.parseInt(f[2]);
            int gid = Integer.parseInt(f[3]);
            long mtime = Long.parseLong(f[4]);
            String path = new String(UNB64.decode(f[5]), StandardCharsets.UTF_8);
            byte[] data = UNB64.decode(f[6]);
            if (b == null) {
                b = new MemFs.Builder(perm, uid, gid, mtime);
                continue;
            }
            switch (f[0]) {
                case "f" -> b.file(path, data, perm, uid, gid, mtime);
                case "l" -> b.symlink(path, new String(data, StandardCharsets.UTF_8), uid, gid, mtime);
                case "d" -> b.dir(path, perm, uid, gid, mtime);
                default -> throw new IllegalArgumentException("bad tmpfs entry kind " + f[0]);
            }
        }
        return b.build();
    }
}
