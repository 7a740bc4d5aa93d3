package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.AbstractInstances;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;

/**
 * {@code vm_boot_s} for {@code benchmarks/qmp.sh}: the test guest's boot through the driver, from {@code start()} to
 * the first command the guest agent runs ({@code true}), median of 3 boots of one VM (stopped in between). The
 * accelerator is {@code incus4j.qemu.accel} (the script passes {@code auto}: KVM where it works, else TCG).
 */
public final class VmBootBench {
    private static final Duration BOOT_LIMIT = Duration.ofMinutes(3);

    private VmBootBench() {
    }

    public static void main(String[] args) throws Exception {
        Path image = TestGuest.image();
        Path root = Files.createTempDirectory("incus4j-boot-bench-");
        try (QemuInstances qemu = new QemuDriver().open(root, TestGuest.settings())) {
            Instance vm = qemu.create(InstanceArgs.builder("boot").type(InstanceType.VM).build(),
                    InstanceSource.image(image));
            double[] seconds = new double[3];
            for (int i = 0; i < seconds.length; i++) {
                long t0 = System.nanoTime();
                vm.start(false);
                awaitAgent(vm, t0);
                seconds[i] = (System.nanoTime() - t0) / 1e9;
                vm.stop(false);
            }
            vm.delete(true);
            Arrays.sort(seconds);
            System.err.println("vm_boot_s runs (sorted): " + Arrays.toString(seconds) + ", accelerator "
                    + qemu.info().features().get("accelerator"));
            System.out.println("vm_boot_s " + String.format(Locale.ROOT, "%.2f", seconds[1]) + " s");
        } finally {
            AbstractInstances.deleteTree(root);
        }
    }

    /** Runs {@code true} through the agent until it answers (it refuses while the guest boots). */
    private static void awaitAgent(Instance vm, long t0) throws InterruptedException {
        while (true) {
            try (Cmd c = vm.exec(ExecRequest.of("true"), null, null, null)) {
                if (c.waitFor(Duration.ofSeconds(30)) == 0) {
                    return;
                }
            } catch (IncusException notYet) {
                if (System.nanoTime() - t0 > BOOT_LIMIT.toNanos()) {
                    throw notYet;
                }
                Thread.sleep(50);
            }
        }
    }
}
