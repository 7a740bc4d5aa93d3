package io.github.incus4j.api.spi;

import io.github.incus4j.api.ConsoleTypes;
import io.github.incus4j.api.Hooks;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.sftp.WireSftpClient;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.operation.InstanceOperation;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Reaching into one instance while it exists: commands, the console, its files over SFTP, its cgroup and the
 * runtime's hook calls. Each checks Incus's preconditions and error texts (a snapshot, a stopped or frozen instance,
 * an unknown console protocol or hook) and then hands over to the driver's {@code doExec}, {@code doConsole},
 * {@code doFileSftpConn} or {@code doCgroup} hook. None of these take the instance's operation lock, except the
 * console log read, which Incus runs under {@code console_retrieve}.
 */
final class InstanceAccess {
    private final AbstractInstance instance;

    InstanceAccess(AbstractInstance instance) {
        this.instance = instance;
    }

    /** {@link Instance#cgroup}. */
    CGroup cgroup() {
        instance.requireInstance("cgroup");
        if (instance.type() == InstanceType.VM) {
            throw new NotSupportedException(NotSupportedException.NOT_IMPLEMENTED);
        }
        return instance.doCgroup();
    }

    /** {@link Instance#fileSftpConn}. */
    Connection fileSftpConn() {
        requireFilesReachable();
        return instance.doFileSftpConn();
    }

    /** {@link Instance#fileSftp}: the SDK's own SFTP client over the driver's connection. */
    SftpClient fileSftp() {
        requireFilesReachable();
        return WireSftpClient.open(instance.doFileSftpConn());
    }

    /** A VM's files are reached through its agent, so only while it runs; a container's always. */
    private void requireFilesReachable() {
        instance.requireExists();
        if (instance.type() == InstanceType.VM && !instance.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, instance.statusCode());
        }
    }

    /** {@link Instance#console}. */
    ConsoleSession console(String protocol) {
        instance.requireInstance("console");
        if (instance.type() == InstanceType.CONTAINER && !ConsoleTypes.CONSOLE.equals(protocol)) {
            throw new InvalidArgumentException(ErrorTexts.containerConsoleUnsupported(protocol));
        }
        if (!ConsoleTypes.CONSOLE.equals(protocol) && !ConsoleTypes.VGA.equals(protocol)) {
            throw new InvalidArgumentException(ErrorTexts.unknownConsoleProtocol(protocol));
        }
        StatusCode status = instance.statusCode();
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, status);
        }
        return instance.doConsole(protocol);
    }

    /** See {@link AbstractInstance#withConsoleRetrieveLock}. */
    <T> T withConsoleRetrieveLock(Supplier<T> read) {
        Optional<InstanceOperation> lock = instance.owner().locks().createWaitGet(instance.args().project(),
                instance.args().name(), instance.operation().orElse(null), OperationLocks.Action.CONSOLE_RETRIEVE,
                Set.of(OperationLocks.Action.RESTART, OperationLocks.Action.RESTORE, OperationLocks.Action.MIGRATE),
                false, true);
        try {
            return read.get();
        } finally {
            lock.ifPresent(InstanceOperation::close);
        }
    }

    /** {@link Instance#exec}. */
    Cmd exec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        instance.requireInstance("exec");
        Objects.requireNonNull(request, "request");
        StatusCode status = instance.statusCode();
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, status);
        }
        if (status == StatusCode.FROZEN) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_FROZEN, status);
        }
        return instance.doExec(request, stdin, stdout, stderr);
    }

    /** {@link Instance#onHook}: the hooks a container's runtime calls; a VM has none. */
    void onHook(String hookName, Map<String, String> hookArgs) {
        if (instance.type() == InstanceType.VM) {
            throw new NotSupportedException(NotSupportedException.NOT_IMPLEMENTED);
        }
        switch (hookName) {
            case Hooks.START:
            case Hooks.STOP_NS:
                return;
            case Hooks.STOP:
                String target = hookArgs.getOrDefault("target", "stop");
                if (!target.equals("stop") && !target.equals("reboot")) {
                    throw new InvalidArgumentException(ErrorTexts.invalidStopTarget(target));
                }
                return;
            default:
                throw new InvalidArgumentException("Unknown hook " + ErrorTexts.quote(hookName));
        }
    }
}
