package io.github.incus4j.remote;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InstanceDriverContract;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The contract's exec and file groups over HTTPS (websockets over TLS, the {@code /sftp} upgrade on a TLS socket of
 * its own), against the real daemon made reachable by {@link HttpsFixture}: the parts of the driver where the
 * transport differs from the unix socket. The session works in a project of its own (the remote's {@code project});
 * the API's default project is that project. The other groups run over the socket in {@link IncusContractTest} (plain
 * requests over TLS are covered by {@link HttpsRemoteTest}); running all of them twice would double CI's time.
 */
@ExtendWith(IncusHttpsContractTest.TransportGroupsOnly.class)
class IncusHttpsContractTest extends InstanceDriverContract {
    /** The contract groups (their tags) that run over HTTPS. */
    static final Set<String> GROUPS = Set.of("exec", "files");
    private static final String PROJECT = "hts-contract-proj";

    private HttpsFixture fixture;

    @Override
    protected DriverUnderTest driver() {
        IncusContractTest.Remote socket = new IncusContractTest.Remote();
        return new DriverUnderTest() {
            @Override
            public String name() {
                return socket.name();
            }

            @Override
            public Instances open(Path root) {
                // A project of its own: the session lists that project only, so the contract's cleanup (which
                // deletes what appeared during a test) cannot take another client's instance on the shared daemon.
                return new IncusDriver().open(root, IncusRemote.fromConfig(fixture().conf(), "hts-p")
                        .timeout(timeout()).build());
            }

            @Override
            public Set<Capability> capabilities() {
                return socket.capabilities();
            }

            @Override
            public InstanceSource source(InstanceType type) {
                return socket.source(type);
            }

            @Override
            public Map<String, String> divergences() {
                return socket.divergences();
            }

            @Override
            public SoakLoad soakLoad() {
                return socket.soakLoad();
            }

            @Override
            public Duration timeout() {
                return socket.timeout();
            }
        };
    }

    /** Set up on first use (so that a class whose groups are all skipped changes nothing on the daemon). */
    private synchronized HttpsFixture fixture() {
        if (fixture == null) {
            try {
                fixture = HttpsFixture.start("hts-contract-" + ProcessHandle.current().pid(),
                        Files.createTempDirectory("hts-incus-conf"), PROJECT);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException("setting up HTTPS on incusd: " + e, e);
            }
        }
        return fixture;
    }

    @AfterAll
    void restoreTheDaemon() {
        if (fixture != null) {
            fixture.close();
        }
    }

    /** Runs only the groups tagged with one of {@link #GROUPS} (and whatever has no group). */
    static final class TransportGroupsOnly implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            for (Optional<ExtensionContext> c = Optional.of(context); c.isPresent(); c = c.get().getParent()) {
                if (c.get().getElement().filter(e -> e instanceof Class<?> k && k.isMemberClass()).isPresent()
                        && !c.get().getTags().isEmpty()) {
                    return c.get().getTags().stream().anyMatch(GROUPS::contains)
                            ? ConditionEvaluationResult.enabled("a transport group")
                            : ConditionEvaluationResult.disabled("over HTTPS only the groups " + GROUPS
                                    + " run; this one runs over the unix socket in IncusContractTest");
                }
            }
            return ConditionEvaluationResult.enabled("no contract group");
        }
    }
}
