package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.testkit.contract.ContractSupport;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The contract's cleanup on a shared server: it deletes what the test created and leaves alone what was there before
 * (another client's instance), which the remote driver's session lists as well.
 */
class ContractCleanupTest extends ContractSupport {
    private final String bystander = "bystander-" + ProcessHandle.current().pid();
    private String created;

    @Override
    protected DriverUnderTest driver() {
        return new IncusContractTest.Remote();
    }

    @BeforeAll
    void anotherClientsInstance() throws Exception {
        Applicability a = new IncusDriver().applicability();
        assumeTrue(a.applicable(), () -> "no trusted incusd here (.ci/incusd start runs one): " + a.reason());
        assertEquals(0, incus("init", "busybox", bystander), "incus init " + bystander);
    }

    @Test
    void theTestLeavesAnInstanceBehind() {
        Instance i = create(InstanceType.CONTAINER);
        created = i.name();
        assertTrue(instances().find("default", bystander).isPresent(), "the session lists the bystander too");
    }

    @AfterAll
    void onlyTheTestsInstanceIsGone() throws Exception {
        if (!new IncusDriver().applicability().applicable()) {
            return;
        }
        try {
            assertEquals(0, incus("info", bystander), "the bystander survived the cleanup");
            if (created != null) {
                assertTrue(incus("info", created) != 0, "the test's instance was deleted");
            }
        } finally {
            incus("delete", "--force", bystander);
        }
    }

    private static int incus(String... args) throws IOException, InterruptedException {
        String[] command = new String[args.length + 1];
        command[0] = "incus";
        System.arraycopy(args, 0, command, 1, args.length);
        Process p = new ProcessBuilder(command).redirectErrorStream(true)
                // incus init reads instance config from stdin when it is not a terminal.
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("incus " + String.join(" ", args) + " did not end within 60 s");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            System.err.println("incus " + String.join(" ", args) + ": " + out.strip());
        }
        return p.exitValue();
    }
}
