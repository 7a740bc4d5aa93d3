package io.github.incus4j.api.internal.sftp;

import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.spi.FileBackend;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;

/**
 * The SFTP version 3 packet codec (draft-ietf-secsh-filexfer-02), shared by {@link SftpServer} and
 * {@link WireSftpClient}: constants, framing with a size bound, and the ATTRS structure.
 */
final class SftpWire {
    /** The largest packet either side accepts: OpenSSH's own bound, so any sane client fits. */
    static final int MAX_PACKET = 256 * 1024;
    /** The most data one READ returns or one WRITE carries in our client: well under {@link #MAX_PACKET}. */
    static final int MAX_DATA = 64 * 1024;
    static final int VERSION = 3;

    static final int INIT = 1;
    static final int VERSION_REPLY = 2;
    static final int OPEN = 3;
    static final int CLOSE = 4;
    static final int READ = 5;
    static final int WRITE = 6;
    static final int LSTAT = 7;
    static final int FSTAT = 8;
    static final int SETSTAT = 9;
    static final int FSETSTAT = 10;
    static final int OPENDIR = 11;
    static final int READDIR = 12;
    static final int REMOVE = 13;
    static final int MKDIR = 14;
    static final int RMDIR = 15;
    static final int REALPATH = 16;
    static final int STAT = 17;
    static final int RENAME = 18;
    static final int READLINK = 19;
    static final int SYMLINK = 20;
    static final int STATUS = 101;
    static final int HANDLE = 102;
    static final int DATA = 103;
    static final int NAME = 104;
    static final int ATTRS = 105;

    static final int FX_OK = 0;
    static final int FX_EOF = 1;
    static final int FX_NO_SUCH_FILE = 2;
    static final int FX_PERMISSION_DENIED = 3;
    static final int FX_FAILURE = 4;
    static final int FX_BAD_MESSAGE = 5;
    static final int FX_OP_UNSUPPORTED = 8;

    static final int FXF_READ = 0x01;
    static final int FXF_WRITE = 0x02;
    static final int FXF_APPEND = 0x04;
    static final int FXF_CREAT = 0x08;
    static final int FXF_TRUNC = 0x10;
    static final int FXF_EXCL = 0x20;

    static final int ATTR_SIZE = 0x01;
    static final int ATTR_UIDGID = 0x02;
    static final int ATTR_PERMISSIONS = 0x04;
    static final int ATTR_ACMODTIME = 0x08;
    static final int ATTR_EXTENDED = 0x80000000;

    private SftpWire() {
    }

    /** A malformed or oversized packet: the stream can no longer be trusted. */
    static final class BadMessage extends IOException {
        private static final long serialVersionUID = 1L;

        BadMessage(String message) {
            super(message);
        }
    }

    /**
     * Reads one packet body (type byte onwards), or {@code null} at a clean end of stream.
     *
     * @throws BadMessage if the length is zero or above {@link #MAX_PACKET} (read nothing further: a bad length
     *     means the framing is lost)
     */
    static Reader readPacket(InputStream in) throws IOException {
        byte[] len = new byte[4];
        int got = in.readNBytes(len, 0, 4);
        if (got == 0) {
            return null;
        }
        if (got < 4) {
            throw new EOFException("Truncated SFTP packet length");
        }
        long n = ((len[0] & 0xffL) << 24) | ((len[1] & 0xff) << 16) | ((len[2] & 0xff) << 8) | (len[3] & 0xff);
        if (n < 1 || n > MAX_PACKET) {
            throw new BadMessage("SFTP packet of " + n + " bytes refused (limit " + MAX_PACKET + ")");
        }
        byte[] body = in.readNBytes((int) n);
        if (body.length < n) {
            throw new EOFException("Truncated SFTP packet");
        }
        return new Reader(body);
    }

    /** Reads the fields of one packet. */
    static final class Reader {
        private final byte[] b;
        private int pos;

        Reader(byte[] body) {
            this.b = body;
        }

        /** A reader of the same packet from its start. */
        Reader copy() {
            return new Reader(b);
        }

        int type() throws BadMessage {
            need(1);
            return b[pos++] & 0xff;
        }

        int u32() throws BadMessage {
            need(4);
            int v = ((b[pos] & 0xff) << 24) | ((b[pos + 1] & 0xff) << 16) | ((b[pos + 2] & 0xff) << 8)
                    | (b[pos + 3] & 0xff);
            pos += 4;
            return v;
        }

        long u64() throws BadMessage {
            return ((u32() & 0xffffffffL) << 32) | (u32() & 0xffffffffL);
        }

        byte[] bytes() throws BadMessage {
            long n = u32() & 0xffffffffL;
            need(n);
            byte[] out = Arrays.copyOfRange(b, pos, pos + (int) n);
            pos += (int) n;
            return out;
        }

        String string() throws BadMessage {
            return new String(bytes(), StandardCharsets.UTF_8);
        }

        /** Decodes ATTRS; absent fields are {@code null} in the returned change set. */
        FileBackend.AttrChanges attrs() throws BadMessage {
            int flags = u32();
            Long size = (flags & ATTR_SIZE) != 0 ? u64() : null;
            Integer uid = null;
            Integer gid = null;
            if ((flags & ATTR_UIDGID) != 0) {
                uid = u32();
                gid = u32();
            }
            Integer mode = (flags & ATTR_PERMISSIONS) != 0 ? u32() : null;
            Instant mtime = null;
            if ((flags & ATTR_ACMODTIME) != 0) {
                u32(); // atime: not kept by the backends
                mtime = Instant.ofEpochSecond(u32() & 0xffffffffL);
            }
            if ((flags & ATTR_EXTENDED) != 0) {
                int count = u32();
                for (int i = 0; i < count; i++) {
                    bytes();
                    bytes();
                }
            }
            return new FileBackend.AttrChanges(mode, uid, gid, mtime, size);
        }

        private void need(long n) throws BadMessage {
            if (n > b.length - pos) {
                throw new BadMessage("SFTP packet ends inside a field");
            }
        }
    }

    /** Builds one packet; {@link #send} frames it. */
    static final class Writer {
        private byte[] b = new byte[256];
        private int len = 4;
        private final int id;

        Writer(int type) {
            u8(type);
            this.id = -1;
        }

        /** A request: its type and id. */
        Writer(int type, int id) {
            u8(type);
            u32(id);
            this.id = id;
        }

        /** The request id given at construction. */
        int id() {
            return id;
        }

        Writer u8(int v) {
            ensure(1);
            b[len++] = (byte) v;
            return this;
        }

        Writer u32(int v) {
            ensure(4);
            b[len++] = (byte) (v >>> 24);
            b[len++] = (byte) (v >>> 16);
            b[len++] = (byte) (v >>> 8);
            b[len++] = (byte) v;
            return this;
        }

        Writer u64(long v) {
            return u32((int) (v >>> 32)).u32((int) v);
        }

        Writer bytes(byte[] data, int off, int n) {
            u32(n);
            ensure(n);
            System.arraycopy(data, off, b, len, n);
            len += n;
            return this;
        }

        Writer string(String s) {
            byte[] u = s.getBytes(StandardCharsets.UTF_8);
            return bytes(u, 0, u.length);
        }

        /** Encodes ATTRS with every field {@link FileAttributes} knows (atime is reported as mtime). */
        Writer attrs(FileAttributes a) {
            int secs = a.modified() == null ? 0 : (int) a.modified().getEpochSecond();
            return u32(ATTR_SIZE | ATTR_UIDGID | ATTR_PERMISSIONS | ATTR_ACMODTIME).u64(a.size()).u32(a.uid())
                    .u32(a.gid()).u32(a.mode()).u32(secs).u32(secs);
        }

        /** Encodes ATTRS carrying only the fields set in {@code c}. */
        Writer attrs(FileBackend.AttrChanges c) {
            int flags = (c.size() != null ? ATTR_SIZE : 0) | (c.uid() != null ? ATTR_UIDGID : 0)
                    | (c.mode() != null ? ATTR_PERMISSIONS : 0) | (c.mtime() != null ? ATTR_ACMODTIME : 0);
            u32(flags);
            if (c.size() != null) {
                u64(c.size());
            }
            if (c.uid() != null) {
                u32(c.uid()).u32(c.gid());
            }
            if (c.mode() != null) {
                u32(c.mode());
            }
            if (c.mtime() != null) {
                int secs = (int) c.mtime().getEpochSecond();
                u32(secs).u32(secs);
            }
            return this;
        }

        /** Bytes in the packet so far, length field excluded. */
        int size() {
            return len - 4;
        }

        void send(OutputStream out) throws IOException {
            int n = len - 4;
            b[0] = (byte) (n >>> 24);
            b[1] = (byte) (n >>> 16);
            b[2] = (byte) (n >>> 8);
            b[3] = (byte) n;
            out.write(b, 0, len);
            out.flush();
        }

        private void ensure(int n) {
            if (len + n > b.length) {
                b = Arrays.copyOf(b, Math.max(b.length * 2, len + n));
            }
        }
    }
}
