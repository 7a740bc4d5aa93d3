package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.Architectures;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * An ELF64 core file ({@code ET_CORE}, little-endian) with one {@code PT_LOAD} segment holding the simulated guest
 * memory: the shape of QEMU's {@code dump-guest-memory} in {@code elf} format, small.
 */
final class ElfCore {
    static final int HEADER_SIZE = 64;
    static final int PHDR_SIZE = 56;

    private ElfCore() {
    }

    static void write(OutputStream out, int architecture, byte[] memory) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE + PHDR_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        b.putShort((short) 4); // e_type: ET_CORE
        b.putShort((short) machine(architecture));
        b.putInt(1); // e_version
        b.putLong(0); // e_entry
        b.putLong(HEADER_SIZE); // e_phoff
        b.putLong(0); // e_shoff
        b.putInt(0); // e_flags
        b.putShort((short) HEADER_SIZE);
        b.putShort((short) PHDR_SIZE);
        b.putShort((short) 1); // e_phnum
        b.putShort((short) 0); // e_shentsize
        b.putShort((short) 0); // e_shnum
        b.putShort((short) 0); // e_shstrndx
        b.putInt(1); // p_type: PT_LOAD
        b.putInt(7); // p_flags: RWX
        b.putLong(HEADER_SIZE + PHDR_SIZE); // p_offset
        b.putLong(0); // p_vaddr
        b.putLong(0); // p_paddr
        b.putLong(memory.length); // p_filesz
        b.putLong(memory.length); // p_memsz
        b.putLong(1); // p_align
        out.write(b.array());
        out.write(memory);
        out.flush();
    }

    /** {@code e_machine} of an architecture. */
    static int machine(int architecture) {
        switch (architecture) {
            case Architectures.X86_64:
                return 62;
            case Architectures.AARCH64:
                return 183;
            case Architectures.I686:
                return 3;
            case Architectures.ARMV7L:
                return 40;
            case Architectures.PPC:
                return 20;
            case Architectures.PPC64:
            case Architectures.PPC64LE:
                return 21;
            case Architectures.S390X:
                return 22;
            case Architectures.MIPS:
            case Architectures.MIPS64:
                return 8;
            case Architectures.RISCV32:
            case Architectures.RISCV64:
                return 243;
            case Architectures.LOONGARCH64:
                return 258;
            default:
                return 0;
        }
    }
}
