package io.github.incus4j.testkit.contract;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Many threads doing every state-changing action at once on a few shared instances, through fresh and cached
 * handles: what a busy orchestrator does. The only failures allowed are the refusals Incus gives to a lost race
 * ({@link BusyException}, {@link InstanceStateException}, {@link NotFoundException} for an instance or snapshot
 * that another thread deleted or renamed away, each with one of Incus's texts, and the refusal of an update that
 * would drop keys another thread added). Afterwards what the driver holds in memory, what it reads back from
 * disk after a reopen and the records on disk must agree: no ghost, no loss.
 */
final class ConcurrencySoak {
    /**
     * An update built from a config read before another thread's start added the volatile idmap keys: refused, as
     * Incus refuses it (its REST layer would answer a stale ETag with 412).
     */
    private static final String LOST_UPDATE = "Volatile idmap keys can't be deleted by the user";

    private static final String Q = "\"[^\"]+\"";

    /**
     * The refusals a lost race may get, exact type and Incus's text (operationlock.go, driver_common.go,
     * driver_lxc.go, driver_qemu.go, instance_utils.go, instance_snapshot.go; the not-found texts as the contract has
     * them). Anything else is a failure of the soak.
     */
    private static final List<Map.Entry<Class<?>, Pattern>> RACE_REFUSALS = List.of(
            refusal(BusyException.class, "Instance is busy running a \"\\w+\" operation"),
            refusal(BusyException.class, "Instance " + Q + " already exists"),
            refusal(BusyException.class, "Name " + Q + " already in use"),
            refusal(BusyException.class, "Snapshot " + Q + " already exists"),
            refusal(BusyException.class, "Name '[^']+' already in use"),
            refusal(InstanceStateException.class, Pattern.quote("The instance is already running")),
            refusal(InstanceStateException.class, Pattern.quote("The instance is already stopped")),
            refusal(InstanceStateException.class, Pattern.quote("Instance is running")),
            refusal(InstanceStateException.class, Pattern.quote("The instance isn't running")),
            refusal(InstanceStateException.class, Pattern.quote("The container isn't running")),
            refusal(InstanceStateException.class, Pattern.quote("The container is already frozen")),
            refusal(InstanceStateException.class, Pattern.quote("The container is already running")),
            refusal(InstanceStateException.class, Pattern.quote("Renaming of running instance not allowed")),
            refusal(NotFoundException.class, Pattern.quote("Instance not found")),
            refusal(NotFoundException.class, "Snapshot " + Q + "( of instance " + Q + ")? not found"));

    private static Map.Entry<Class<?>, Pattern> refusal(Class<?> type, String regex) {
        return Map.entry(type, Pattern.compile(regex));
    }

    /** The {@link #RACE_REFUSALS} entry {@code e} is, as a report key, or null. */
    private static String raceRefusal(Throwable e) {
        for (Map.Entry<Class<?>, Pattern> r : RACE_REFUSALS) {
            String m = e.getMessage();
            if (e.getClass() == r.getKey() && m != null && r.getValue().matcher(m).matches()) {
                return e.getClass().getSimpleName() + " " + r.getValue().pattern().replace("\\Q", "")
                        .replace("\\E", "");
            }
        }
        return null;
    }

    /** Volatile keys Incus lets anyone set, with no effect on the instance. */
    private static final List<String> VOLATILE_KEYS = List.of("volatile.evacuate.origin", "volatile.cluster.group",
            "volatile.rebalance.last_move");

    private final Supplier<Instances> instances;
    private final Supplier<Instances> reopen;
    private final Path root;
    private final InstanceType type;
    private final Map<String, String> baseConfig;
    private final Supplier<InstanceArgs.Builder> args;
    private final java.util.function.Function<InstanceArgs, Instance> create;
    private final DriverUnderTest.SoakLoad load;
    private final long seed;

    ConcurrencySoak(ContractSupport contract, InstanceType type, DriverUnderTest.SoakLoad load, long seed) {
        this.instances = contract::instances;
        this.reopen = contract::reopen;
        this.root = contract.root();
        this.type = type;
        this.baseConfig = contract.dut().baseConfig(type);
        this.args = () -> contract.args(type);
        this.create = contract::create;
        this.load = load;
        this.seed = seed;
    }

    /** What a run did, for the failure message and the report. */
    record Outcome(long operations, long succeeded, Map<String, Long> refusals, List<Throwable> unexpected) {
    }

    Outcome run(long deadlineNanos) {
        List<String> names = new ArrayList<>();
        String prefix = args.get().build().name();
        for (int n = 0; n < load.names(); n++) {
            names.add(prefix + "-" + n);
        }
        // Half the names exist at the start.
        for (int n = 0; n < names.size(); n += 2) {
            create.apply(args.get().name(names.get(n)).config(baseConfig).build());
        }
        ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
        Map<String, AtomicLong> refusals = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicLong done = new AtomicLong();
        AtomicLong succeeded = new AtomicLong();
        CountDownLatch gate = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < load.threads(); t++) {
            Random random = new Random(seed * 31 + t);
            Thread thread = new Thread(() -> {
                List<Instance> cached = new ArrayList<>();
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int k = 0; k < load.operationsPerThread() && System.nanoTime() < deadlineNanos; k++) {
                    try {
                        step(random, names, cached);
                        succeeded.incrementAndGet();
                    } catch (BusyException | InstanceStateException | NotFoundException refused) {
                        String key = raceRefusal(refused);
                        if (key == null) {
                            unexpected.add(new AssertionError("not a refusal Incus gives to a lost race: "
                                    + refused, refused));
                        } else {
                            refusals.computeIfAbsent(key, x -> new AtomicLong()).incrementAndGet();
                        }
                    } catch (InvalidArgumentException e) {
                        if (LOST_UPDATE.equals(e.getMessage())) {
                            refusals.computeIfAbsent("lost update", x -> new AtomicLong()).incrementAndGet();
                        } else {
                            unexpected.add(e);
                        }
                    } catch (Throwable e) {
                        unexpected.add(e);
                    }
                    done.incrementAndGet();
                }
            }, "contract-soak-" + t);
            thread.setDaemon(true);
            threads.add(thread);
            thread.start();
        }
        gate.countDown();
        for (Thread thread : threads) {
            try {
                thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime()) + 60_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                unexpected.add(new AssertionError(thread.getName() + " still running at the deadline"));
            }
        }
        Map<String, Long> counts = new TreeMap<>();
        refusals.forEach((k, v) -> counts.put(k, v.get()));
        return new Outcome(done.get(), succeeded.get(), counts, new ArrayList<>(unexpected));
    }

    /** One random action on a random name, through a fresh handle or (30 %) one this thread used before. */
    private void step(Random random, List<String> names, List<Instance> cached) {
        String name = names.get(random.nextInt(names.size()));
        Instance i;
        if (!cached.isEmpty() && random.nextInt(10) < 3) {
            i = cached.get(random.nextInt(cached.size()));
        } else {
            Optional<Instance> found = instances.get().find("default", name);
            if (found.isEmpty()) {
                if (random.nextInt(3) == 0) {
                    remember(cached, create.apply(args.get().name(name).config(baseConfig).build()));
                } else {
                    instances.get().list().forEach(Instance::render);
                }
                return;
            }
            i = found.get();
            remember(cached, i);
        }
        int action = random.nextInt(100);
        if (action < 12) {
            i.start(false);
        } else if (action < 24) {
            i.stop(false);
        } else if (action < 28) {
            i.freeze();
        } else if (action < 32) {
            i.unfreeze();
        } else if (action < 44) {
            i.snapshot("s" + random.nextInt(4), null, false);
        } else if (action < 50) {
            List<Instance> snaps = i.snapshots();
            if (!snaps.isEmpty()) {
                snaps.get(random.nextInt(snaps.size())).delete(false);
            }
        } else if (action < 55) {
            List<Instance> snaps = i.snapshots();
            if (!snaps.isEmpty()) {
                i.restore(snaps.get(random.nextInt(snaps.size())), false);
            }
        } else if (action < 67) {
            Map<String, String> config = new HashMap<>(i.localConfig());
            config.put("user.soak", Integer.toString(random.nextInt(1000)));
            i.update(InstanceArgs.builder(i.name()).project(i.project().name()).type(i.type())
                    .architecture(i.architecture()).ephemeral(i.isEphemeral()).description(i.description())
                    .config(config).devices(i.localDevices()).profiles(i.profiles()).build(), true);
        } else if (action < 75) {
            i.rename(names.get(random.nextInt(names.size())), false);
        } else if (action < 83) {
            i.delete(true);
        } else if (action < 93) {
            i.volatileSet(Map.of(VOLATILE_KEYS.get(random.nextInt(VOLATILE_KEYS.size())),
                    Integer.toString(random.nextInt(1000))));
        } else {
            i.render();
            i.renderState(List.of());
        }
    }

    private static void remember(List<Instance> cached, Instance i) {
        if (cached.size() >= 8) {
            cached.remove(0);
        }
        cached.add(i);
    }

    /** An instance as its records describe it: what must survive a reopen unchanged. */
    record Recorded(String name, Map<String, String> config, List<String> snapshots) {
        static Recorded of(Instance i) {
            Map<String, String> config = new TreeMap<>(i.localConfig());
            List<String> snaps = i.snapshots().stream().map(Instance::name).sorted().collect(Collectors.toList());
            return new Recorded(i.name(), config, snaps);
        }
    }

    /** What the session holds, sorted by name. */
    List<Recorded> inMemory() {
        return instances.get().list().stream().filter(i -> i.type() == type).map(Recorded::of)
                .sorted(java.util.Comparator.comparing(Recorded::name)).collect(Collectors.toList());
    }

    /** The same after closing the driver and opening it again on the root. */
    List<Recorded> afterReopen() {
        reopen.get();
        return inMemory();
    }

    /** The instance directories holding a record, relative to the root; each listed instance owns one. */
    Set<String> recordsOnDisk() {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(p -> p.getFileName().toString().equals("backup.yaml"))
                    .map(p -> root.relativize(p.getParent()).toString())
                    .collect(Collectors.toCollection(TreeSet::new));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The record directories the listed instances own. */
    Set<String> recordsOfListed() {
        Set<String> out = new TreeSet<>();
        for (Instance i : instances.get().list()) {
            out.add(root.relativize(i.path()).toString());
        }
        return Collections.unmodifiableSet(out);
    }
}
