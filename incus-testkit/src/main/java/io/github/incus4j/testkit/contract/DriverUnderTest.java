package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * A driver as {@link InstanceDriverContract} sees it: how to open it on a root directory, what it can do, and what
 * to create instances from. Implementations are small adapters written in the driver's own test sources.
 */
@API(status = EXPERIMENTAL)
public interface DriverUnderTest {

    /** The name reports use, e.g. {@code fake}, {@code lxc}; by default the class's simple name. */
    default String name() {
        return getClass().getSimpleName();
    }

    /** Opens the driver on {@code root}, a fresh empty directory for each contract test (or the same one to reopen). */
    Instances open(Path root);

    /**
     * Opens the driver where the migration group moves instances to, on {@code root} (another fresh directory, or the
     * same one to reopen). By default {@link #open}; a driver whose instances live on one shared server opens a place
     * there that the contract's own sessions do not see as the same (the incus driver: another project).
     */
    default Instances openMigrationTarget(Path root) {
        return open(root);
    }

    /** What the driver can do; groups needing anything else are skipped with the missing capability as reason. */
    Set<Capability> capabilities();

    /**
     * What to create a runnable instance of {@code type} from; it must provide the busybox applets the contract runs
     * ({@code true false echo cat env pwd id sh sleep ls}). The fake and the liblxc driver accept
     * {@code InstanceSource.template("busybox", Map.of())}.
     */
    InstanceSource source(InstanceType type);

    /**
     * Local config every instance the contract creates of {@code type} starts with, before the test's own keys; by
     * default none. For example {@code security.privileged=true} runs the suite on privileged containers.
     */
    default Map<String, String> baseConfig(InstanceType type) {
        return Map.of();
    }

    /**
     * The instance types to run type-dependent tests for; by default those of {@link Capability#CONTAINERS} and
     * {@link Capability#VIRTUAL_MACHINES}.
     */
    default Set<InstanceType> instanceTypes() {
        Set<InstanceType> types = EnumSet.noneOf(InstanceType.class);
        if (capabilities().contains(Capability.CONTAINERS)) {
            types.add(InstanceType.CONTAINER);
        }
        if (capabilities().contains(Capability.VIRTUAL_MACHINES)) {
            types.add(InstanceType.VM);
        }
        return types;
    }

    /**
     * How hard the concurrency soak pushes the driver: {@code threads} threads doing {@code operationsPerThread} mixed
     * actions on a pool of {@code names} instance names; by default 4 × 200 on 4 names, a load a real driver runs in
     * a minute or two. The fake takes 16 × 10,000 on 20.
     */
    default SoakLoad soakLoad() {
        return new SoakLoad(4, 200, 4);
    }

    /** The size of the concurrency soak: thread count, actions per thread, instance names shared by the threads. */
    record SoakLoad(int threads, int operationsPerThread, int names) {
    }

    /**
     * Contract tests this driver fails because what it drives (a real Incus server) behaves otherwise, by test method
     * name, each with its reason; by default none. Each is reported as skipped with the message
     * {@code declared divergence of <driver>: <reason>} (CI accepts only skips of that form), never as passed.
     */
    default Map<String, String> divergences() {
        return Map.of();
    }

    /**
     * Makes {@code action} ({@code start}, ...) of the driver opened as {@code instances} take {@code delay} longer,
     * {@link Duration#ZERO} undoing it, so that the concurrency tests can overlap two actions for certain. By default
     * nothing: a real driver's start takes real time anyway. The fake slows its actions down here.
     */
    default void slowDown(Instances instances, String action, Duration delay) {
    }

    /**
     * Whether the driver's sessions see a server other clients use at the same time (the incus driver on a shared
     * incusd); by default false. The cleanup after each test then deletes only instances named by this run
     * ({@code ContractSupport.uniqueName}), never one another client created meanwhile.
     */
    default boolean sharedServer() {
        return false;
    }

    /** The bound of every wait in the contract (exec, shutdown, migration); be generous for real drivers. */
    default Duration timeout() {
        return Duration.ofSeconds(30);
    }

    /**
     * A NIC device this driver applies on this machine, for the DEVICES group ({@link Capability#NIC_DEVICES}); by
     * default a {@code p2p} NIC (a veth pair or a tap device, nothing on the host to set up). A driver whose NICs need
     * a bridge returns one on a bridge the test set up itself.
     */
    default io.github.incus4j.api.model.Device nicDevice(InstanceType type) {
        return io.github.incus4j.api.model.Device.of("type", "nic", "nictype", "p2p");
    }

    /**
     * Whether the NIC of {@link #nicDevice} has a host-side interface, named in {@code volatile.<dev>.host_name}
     * while the instance runs (a veth or tap, as Incus's NICs); {@code false} for one that has none (QEMU's user-mode
     * NIC lives inside the QEMU process), whose state and volatile keys then name no host interface.
     */
    default boolean nicHasHostInterface(InstanceType type) {
        return true;
    }

    /**
     * Starts an HTTP server on TCP {@code port} inside the running {@code instance} answering {@code GET /} with
     * {@code body}, required with {@link Capability#PROXY_DEVICES}: real drivers run busybox {@code httpd}, the fake
     * registers a {@code FakeService}. It may return before the server listens (the contract retries).
     *
     * @throws UnsupportedOperationException by default
     */
    default void startHttpServer(io.github.incus4j.api.Instance instance, int port, String body) {
        throw new UnsupportedOperationException("This driver declares no way to start a server in an instance");
    }

    /**
     * A fresh pair of connected migration ends, required when {@link #capabilities()} has {@link Capability#MIGRATION}.
     * The contract sets the {@code snapshots}/{@code live} flags itself.
     *
     * @throws UnsupportedOperationException by default
     */
    default MigrationPipe migrationPipe() {
        throw new UnsupportedOperationException("This driver declares no migration pipe");
    }
}
