package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import java.io.OutputStream;
import java.security.cert.X509Certificate;
import java.util.Optional;
import org.apiguardian.api.API;

/** Virtual-machine-specific operations ({@code instance.VM}). */
@API(status = STABLE)
public interface VM extends Instance {
    /** The certificate of the in-guest agent ({@code config/agent.crt}), empty when absent or invalid. */
    Optional<X509Certificate> agentCertificate();

    /**
     * The serial console log: the ring buffer drained into {@code console.log}, and that whole file returned, so that
     * a read keeps what earlier reads returned (unlike a container's, whose reads consume).
     */
    String consoleLog();

    /** Writes a PNG screenshot of the display. */
    void consoleScreenshot(OutputStream png);

    /** Writes a dump of guest memory in {@code format} ({@code elf}, {@code kdump-zlib}...). */
    void dumpGuestMemory(OutputStream out, String format);
}
