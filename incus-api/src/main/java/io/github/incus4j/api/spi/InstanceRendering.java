package io.github.incus4j.api.spi;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.rest.ApiInstance;
import io.github.incus4j.api.rest.ApiInstanceFull;
import io.github.incus4j.api.rest.ApiInstanceSnapshot;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.rest.ApiRenderable;
import io.github.incus4j.api.rest.Render;
import io.github.incus4j.api.rest.RestJson;
import java.net.NetworkInterface;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * How one instance or snapshot shows in Incus's REST API, Incus's {@code Render}, {@code RenderFull},
 * {@code RenderState} and {@code ETag}, and its metrics: builds the records from the definition and the status, and
 * asks the driver only for the live parts ({@code runningState}, {@code diskState}, {@code collectMetrics}). It
 * reads, never changes, the instance.
 */
final class InstanceRendering {
    private final AbstractInstance instance;

    InstanceRendering(AbstractInstance instance) {
        this.instance = instance;
    }

    /** {@link Instance#etag}. */
    List<Object> etag() {
        InstanceArgs args = instance.args();
        if (instance.isSnapshot()) {
            List<Object> out = new ArrayList<>(1);
            out.add(args.expiryDate() == null ? RestJson.GO_ZERO_TIME : args.expiryDate());
            return out;
        }
        List<String> config = new ArrayList<>();
        args.config().forEach((k, v) -> config.add(k + "=" + v));
        return List.of(Architectures.name(args.architecture()), args.ephemeral(), profileNames(args),
                args.devices().sorted(), config);
    }

    private static List<String> profileNames(InstanceArgs args) {
        List<String> names = new ArrayList<>(args.profiles().size());
        for (Profile p : args.profiles()) {
            names.add(p.name());
        }
        return names;
    }

    /** {@link Instance#render}. */
    Render<ApiRenderable> render() {
        if (instance.isSnapshot()) {
            return new Render<>(snapshot(-1), instance.etag());
        }
        return new Render<>(instance(instance.statusCode()), instance.etag());
    }

    /** {@link Instance#renderWithUsage}. */
    Render<ApiRenderable> renderWithUsage() {
        if (instance.isSnapshot()) {
            long size = -1;
            ApiInstanceState.Disk root = instance.diskState().get("root");
            if (root != null && root.usage() >= 0) {
                size = root.usage();
            }
            return new Render<>(snapshot(size), instance.etag());
        }
        return instance.render();
    }

    private ApiInstance instance(StatusCode status) {
        InstanceArgs args = instance.args();
        return new ApiInstance(Architectures.name(args.architecture()), args.config(), args.devices(),
                args.ephemeral(), profileNames(args), args.stateful(), args.description(), args.creationDate(),
                instance.expandedConfig(), instance.expandedDevices(), instance.name(), status.text(), status.code(),
                instance.lastUsedDate(), instance.location(), instance.type().apiName(), args.project());
    }

    private ApiInstanceSnapshot snapshot(long size) {
        InstanceArgs args = instance.args();
        return new ApiInstanceSnapshot(args.expiryDate() == null ? RestJson.GO_ZERO_TIME : args.expiryDate(),
                Architectures.name(args.architecture()), args.config(), args.creationDate(), args.description(),
                args.devices(), args.ephemeral(), instance.expandedConfig(), instance.expandedDevices(),
                instance.lastUsedDate(), NameRules.snapshotPart(instance.name()), profileNames(args), args.stateful(),
                size);
    }

    /** {@link Instance#renderFull}. */
    Render<ApiInstanceFull> renderFull(List<NetworkInterface> hostInterfaces) {
        if (instance.isSnapshot()) {
            throw new InvalidArgumentException(instance.type() == InstanceType.VM
                    ? "RenderFull doesn't work with snapshots" : "RenderFull only works with containers");
        }
        StatusCode status = instance.statusCode();
        List<ApiInstanceSnapshot> snaps = new ArrayList<>();
        for (Instance s : instance.snapshots()) {
            snaps.add((ApiInstanceSnapshot) s.render().value());
        }
        ApiInstanceFull full = new ApiInstanceFull(instance(status), instance.backups(),
                instance.renderState(hostInterfaces), snaps);
        return new Render<>(full, instance.etag());
    }

    /** {@link Instance#renderState}. */
    ApiInstanceState renderState(List<NetworkInterface> hostInterfaces) {
        StatusCode status = instance.statusCode();
        if (status == StatusCode.ERROR) {
            return new ApiInstanceState(status.text(), status.code(), Map.of(), null, Map.of(), 0, 0, null, null,
                    null);
        }
        if (!status.isRunning()) {
            return new ApiInstanceState(status.text(), status.code(), instance.diskState(), null, Map.of(), 0,
                    instance.type() == InstanceType.VM ? -1 : 0, null, null, null);
        }
        ApiInstanceState live = instance.runningState(status, hostInterfaces == null ? List.of() : hostInterfaces);
        return new ApiInstanceState(status.text(), status.code(), instance.diskState(), live.memory(),
                live.network(), live.pid(), live.processes(), live.cpu(), live.startedAt(), live.osInfo());
    }

    /** {@link Instance#metrics}. */
    MetricSet metrics(List<NetworkInterface> hostInterfaces) {
        instance.requireInstance("metrics");
        StatusCode status = instance.statusCode();
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.ALREADY_STOPPED, status);
        }
        MetricSet set = MetricSet.forInstance(instance.args().project(), instance.name(), instance.type().apiName());
        instance.collectMetrics(set, hostInterfaces == null ? List.of() : hostInterfaces);
        return set;
    }
}
