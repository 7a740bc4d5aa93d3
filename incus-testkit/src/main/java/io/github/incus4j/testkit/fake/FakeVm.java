package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.cert.X509Certificate;
import java.util.Objects;
import java.util.Optional;
import java.util.SplittableRandom;
import org.apiguardian.api.API;

/**
 * A virtual machine of the fake driver. Its agent is always up (exec, files and state work while it runs, and only
 * then, as with Incus's agent); its disk is the same in-memory tree as a container's, exported as a {@code rootfs/}
 * tree rather than a qcow2 {@code rootfs.img}; templates are applied to the tree (Incus hands them to the agent).
 * The screen is a small PNG, the memory dump a small ELF core. There is no SPICE ({@code console("vga")} is
 * refused as on a host without it) and no agent certificate.
 */
@API(status = EXPERIMENTAL)
public final class FakeVm extends FakeInstance implements VM {
    /** The width of {@link #consoleScreenshot} images. */
    public static final int SCREEN_WIDTH = 320;
    /** The height of {@link #consoleScreenshot} images. */
    public static final int SCREEN_HEIGHT = 200;

    FakeVm(FakeInstances owner, InstanceRecord record) {
        super(owner, record);
    }

    FakeVm(FakeVm parent, InstanceArgs snapshot) {
        super(parent, snapshot);
    }

    /** Always empty: the fake has no agent certificate. */
    @Override
    public Optional<X509Certificate> agentCertificate() {
        return Optional.empty();
    }

    /** The serial console's log, under the {@code console_retrieve} lock as Incus reads it. */
    @Override
    public String consoleLog() {
        return withConsoleRetrieveLock(() -> tty().text(0, false));
    }

    /** A PNG of the (simulated) screen; the instance must run. */
    @Override
    public void consoleScreenshot(OutputStream png) {
        Objects.requireNonNull(png, "png");
        requireRunning();
        Guest g = guest();
        try {
            Png.write(png, SCREEN_WIDTH, SCREEN_HEIGHT, name().hashCode() * 31L + (g == null ? 0 : g.execs.get()));
        } catch (IOException e) {
            throw new IncusException("Failed taking screenshot: " + e.getMessage(), e);
        }
    }

    /**
     * An ELF64 core of the simulated memory; the instance must run.
     *
     * @throws InvalidArgumentException for a format other than {@code elf}
     */
    @Override
    public void dumpGuestMemory(OutputStream out, String format) {
        Objects.requireNonNull(out, "out");
        if (!"elf".equals(format)) {
            throw new InvalidArgumentException("Unsupported dump format " + ErrorTexts.quote(String.valueOf(format))
                    + ": the fake driver writes \"elf\"");
        }
        requireRunning();
        try {
            ElfCore.write(out, architecture(), memoryImage());
        } catch (IOException e) {
            throw new IncusException("Guest memory dump failed: " + e.getMessage(), e);
        }
    }

    private void requireRunning() {
        if (!isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, statusCode());
        }
    }

    /** Simulated guest memory for a dump: a text header then bytes derived from the guest's counters. */
    private byte[] memoryImage() {
        Guest g = guest();
        long now = clockMillis();
        byte[] mem = new byte[256 * 1024];
        String header = "incus4j fake guest memory\ninstance=" + name() + "\npid=" + (g == null ? -1 : g.pid)
                + "\nuptime_ms=" + (g == null ? 0 : g.uptimeMillis(now)) + "\n";
        byte[] h = MemFs.utf8(header);
        System.arraycopy(h, 0, mem, 0, h.length);
        SplittableRandom r = new SplittableRandom(name().hashCode() * 31L + (g == null ? 0 : g.execs.get()));
        for (int i = 4096; i < mem.length; i++) {
            mem[i] = (byte) r.nextInt(256);
        }
        return mem;
    }
}
