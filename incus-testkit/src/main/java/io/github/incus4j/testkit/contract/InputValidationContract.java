package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apiguardian.api.API;

/**
 * Fuzzes every place where input enters a driver with {@link InputFuzz}'s seeded inputs (at least
 * {@value #PER_CATEGORY} per category): instance, snapshot and project names, device maps, config keys and values,
 * {@code raw.lxc}. Each input is either accepted or refused with exactly an {@link InvalidArgumentException} (Incus's
 * 400) that has a text (or, for a valid device the driver does not apply, its {@link NotSupportedException}), never another {@link IncusException} type or a raw JDK exception; a refused input leaves
 * the instance list, the instance's definition and every file under the driver root (names, sizes, dates) as they
 * were; inputs every driver must refuse ({@link InputFuzz.Input#mustRefuse()}) are.
 *
 * <p>Cheap on real drivers: name inputs go through {@code create()} (refused before any storage is made, accepted
 * ones are deleted again), the others through {@code snapshot()} and {@code update()} of one stopped instance.
 * Failures are collected per category and reported together, with counts.
 */
@API(status = EXPERIMENTAL)
public abstract class InputValidationContract extends ContractSupport {
    /** Inputs per category. */
    public static final int PER_CATEGORY = 1000;

    private static final System.Logger LOG = System.getLogger(InputValidationContract.class.getName());

    /** For subclasses. */
    protected InputValidationContract() {
    }

    /** What became of the inputs of one category. */
    private static final class Tally {
        final String category;
        int accepted;
        int refused;
        int raw;
        final List<String> failures = new ArrayList<>();

        Tally(String category) {
            this.category = category;
        }

        void report(String driver, InstanceType type) {
            LOG.log(System.Logger.Level.INFO, "input fuzz {0} {1} {2}: {3} accepted, {4} refused ({5} raw JDK), {6} failures",
                    driver, type.apiName(), category, accepted, refused, raw, failures.size());
            if (!failures.isEmpty()) {
                fail(category + ": " + failures.size() + " of " + (accepted + refused) + " inputs mishandled, e.g.\n"
                        + failures.stream().limit(15).collect(Collectors.joining("\n")));
            }
        }
    }

    /** Runs {@code action} on {@code input}, checks the outcome, and records it. */
    private <T> void attempt(Tally tally, InputFuzz.Input<T> input, Instance shared, Consumer<T> action,
            Runnable undoAccepted) {
        Map<String, String> before = state(shared);
        try {
            action.accept(input.value());
        } catch (IncusException e) {
            tally.refused++;
            // Bad input is Incus's 400: InvalidArgumentException exactly (not a Busy or NotFound, not the root type),
            // with a text that says what is wrong.
            // A valid device the driver does not apply is refused as such (DeviceSupport), never kept unapplied.
            boolean unsupportedDevice = e.getClass() == NotSupportedException.class && e.getMessage() != null
                    && e.getMessage().contains(" driver does not support ") && !input.mustRefuse();
            if (!unsupportedDevice && (e.getClass() != InvalidArgumentException.class || e.getMessage() == null
                    || e.getMessage().isBlank())) {
                tally.failures.add("refused " + show(input.value()) + " with " + e.getClass().getSimpleName()
                        + " \"" + e.getMessage() + "\", not an InvalidArgumentException with a text");
            }
            Map<String, String> after = state(shared);
            if (!before.equals(after)) {
                tally.failures.add("refused " + show(input.value()) + " (" + e.getMessage() + ") but changed "
                        + diff(before, after));
            }
            return;
        } catch (RuntimeException | Error e) {
            tally.refused++;
            tally.raw++;
            tally.failures.add("raw " + e.getClass().getName() + " for " + show(input.value()) + ": "
                    + e.getMessage());
            return;
        }
        tally.accepted++;
        if (input.mustRefuse()) {
            tally.failures.add("accepted " + show(input.value()));
        }
        try {
            undoAccepted.run();
        } catch (RuntimeException e) {
            tally.failures.add("could not undo " + show(input.value()) + ": " + e);
        }
    }

    @ForEachInstanceType
    void instanceNames(InstanceType type) {
        Tally tally = new Tally("instance names");
        Instances in = instances();
        for (InputFuzz.Input<String> input : new InputFuzz(InputFuzz.SEED).instanceNames(PER_CATEGORY)) {
            attempt(tally, input, null, name -> create(args(type).name(name).build()),
                    () -> in.load(input.value()).delete(true));
        }
        tally.report(driverName(), type);
    }

    @ForEachInstanceType
    void projectNames(InstanceType type) {
        Tally tally = new Tally("project names");
        Instances in = instances();
        String name = uniqueName("p");
        for (InputFuzz.Input<String> input : new InputFuzz(InputFuzz.SEED + 1).projectNames(PER_CATEGORY)) {
            attempt(tally, input, null, project -> create(args(type).name(name).project(project).build()),
                    () -> in.load(input.value(), name).delete(true));
        }
        tally.report(driverName(), type);
    }

    @ForEachInstanceType
    void snapshotNames(InstanceType type) {
        Tally tally = new Tally("snapshot names");
        Instance shared = create(type);
        for (InputFuzz.Input<String> input : new InputFuzz(InputFuzz.SEED + 2).snapshotNames(PER_CATEGORY)) {
            attempt(tally, input, shared, snap -> shared.snapshot(snap, null, false), () -> {
                for (Instance s : shared.snapshots()) {
                    s.delete(true);
                }
            });
        }
        tally.report(driverName(), type);
    }

    @ForEachInstanceType
    void deviceMaps(InstanceType type) {
        Tally tally = new Tally("device maps");
        Instance shared = create(type);
        InstanceArgs original = argsOf(shared).build();
        for (InputFuzz.Input<Map<String, Device>> input : new InputFuzz(InputFuzz.SEED + 3).devices(PER_CATEGORY)) {
            Devices devices = shared.localDevices();
            for (Map.Entry<String, Device> e : input.value().entrySet()) {
                devices = devices.with(e.getKey(), e.getValue());
            }
            Devices next = devices;
            attempt(tally, input, shared, d -> shared.update(argsOf(shared).devices(next).build(), true),
                    () -> shared.update(original, true));
        }
        tally.report(driverName(), type);
    }

    @ForEachInstanceType
    void configEntries(InstanceType type) {
        Tally tally = new Tally("config keys and values");
        Instance shared = create(type);
        InstanceArgs original = argsOf(shared).build();
        for (InputFuzz.Input<Map.Entry<String, String>> input : new InputFuzz(InputFuzz.SEED + 4).config(
                PER_CATEGORY)) {
            attempt(tally, input, shared, kv -> {
                Map<String, String> c = new HashMap<>(shared.localConfig());
                c.put(kv.getKey(), kv.getValue());
                shared.update(argsOf(shared).config(c).build(), true);
            }, () -> shared.update(original, true));
        }
        tally.report(driverName(), type);
    }

    @ForInstanceType(InstanceType.CONTAINER) // raw.lxc is a container key
    void rawLxc(InstanceType type) {
        Tally tally = new Tally("raw.lxc");
        Instance shared = create(type);
        InstanceArgs original = argsOf(shared).build();
        for (InputFuzz.Input<String> input : new InputFuzz(InputFuzz.SEED + 5).rawLxc(PER_CATEGORY)) {
            attempt(tally, input, shared, raw -> {
                Map<String, String> c = new HashMap<>(shared.localConfig());
                c.put("raw.lxc", raw);
                shared.update(argsOf(shared).config(c).build(), true);
            }, () -> shared.update(original, true));
        }
        tally.report(driverName(), type);
    }

    @ForEachInstanceType
    void generatorIsDeterministicAndLargeEnough(InstanceType type) {
        InputFuzz a = new InputFuzz(InputFuzz.SEED);
        InputFuzz b = new InputFuzz(InputFuzz.SEED);
        assertEquals(a.instanceNames(PER_CATEGORY), b.instanceNames(PER_CATEGORY));
        assertEquals(a.devices(PER_CATEGORY), b.devices(PER_CATEGORY));
        assertTrue(new InputFuzz(1).config(PER_CATEGORY).size() >= PER_CATEGORY);
        assertTrue(new InputFuzz(1).rawLxc(PER_CATEGORY).size() >= PER_CATEGORY);
        assertTrue(new InputFuzz(1).projectNames(PER_CATEGORY).size() >= PER_CATEGORY);
        assertTrue(new InputFuzz(1).snapshotNames(PER_CATEGORY).size() >= PER_CATEGORY);
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private static InstanceArgs.Builder argsOf(Instance i) {
        return InstanceArgs.builder(i.name()).project(i.project().name()).type(i.type())
                .architecture(i.architecture()).ephemeral(i.isEphemeral()).description(i.description())
                .config(i.localConfig()).devices(i.localDevices()).profiles(i.profiles());
    }

    /**
     * What a refused input must not change: the instance list, the shared instance's definition and snapshots, and
     * every file under the root (type, size and modification time).
     */
    private Map<String, String> state(Instance shared) {
        Map<String, String> s = new TreeMap<>();
        s.put("#list", instances().list().stream().map(i -> i.project().name() + "/" + i.name())
                .collect(Collectors.joining(",")));
        if (shared != null) {
            s.put("#config", shared.localConfig().toString());
            s.put("#devices", shared.localDevices().toString());
            s.put("#snapshots", shared.snapshots().stream().map(Instance::name).collect(Collectors.joining(",")));
        }
        Path r = root();
        if (Files.exists(r)) {
            try (Stream<Path> walk = Files.walk(r)) {
                for (Path p : (Iterable<Path>) walk::iterator) {
                    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class,
                            LinkOption.NOFOLLOW_LINKS);
                    s.put(r.relativize(p).toString(), a.isDirectory() ? "dir"
                            : a.size() + "@" + a.lastModifiedTime().toMillis());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return s;
    }

    private static String diff(Map<String, String> before, Map<String, String> after) {
        List<String> out = new ArrayList<>();
        for (String k : before.keySet()) {
            if (!before.get(k).equals(after.get(k))) {
                out.add(k + ": " + before.get(k) + " -> " + after.get(k));
            }
        }
        for (String k : after.keySet()) {
            if (!before.containsKey(k)) {
                out.add("+" + k);
            }
        }
        return out.stream().limit(5).collect(Collectors.joining("; "));
    }

    private static String show(Object value) {
        StringBuilder sb = new StringBuilder();
        String s = String.valueOf(value);
        for (int i = 0; i < s.length() && sb.length() < 160; i++) {
            char c = s.charAt(i);
            sb.append(c < 0x20 || c == 0x85 || Character.isSurrogate(c) ? String.format("\\u%04x", (int) c)
                    : String.valueOf(c));
        }
        return sb.toString();
    }
}
