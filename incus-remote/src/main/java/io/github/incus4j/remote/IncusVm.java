package io.github.incus4j.remote;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.model.ConsoleLogOptions;
import java.io.OutputStream;
import java.security.cert.X509Certificate;
import java.util.Optional;

/** A virtual machine on the server. */
final class IncusVm extends IncusInstance implements VM {
    IncusVm(IncusInstances session, String project, String name) {
        super(session, project, name, InstanceType.VM);
    }

    @Override
    public Optional<X509Certificate> agentCertificate() {
        throw new NotSupportedException("The VM agent's certificate stays on the server");
    }

    @Override
    public String consoleLog() {
        return consoleLog(ConsoleLogOptions.READ);
    }

    @Override
    public void consoleScreenshot(OutputStream png) {
        throw new NotSupportedException("Console screenshots are not implemented by the incus driver yet");
    }

    @Override
    public void dumpGuestMemory(OutputStream out, String format) {
        throw new NotSupportedException("Guest memory dumps are not implemented by the incus driver yet");
    }
}
