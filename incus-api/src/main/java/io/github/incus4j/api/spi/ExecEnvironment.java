package io.github.incus4j.api.spi;

import io.github.incus4j.api.exec.ExecRequest;
import java.util.Map;
import java.util.TreeMap;

/**
 * The environment of a command run in an instance, as Incus's {@code Exec} builds it: the instance's
 * {@code environment.*} keys, the request's variables over them, and the defaults Incus fills in where unset. A pure
 * function of the expanded config and the request, shared by every driver through the instance template.
 */
final class ExecEnvironment {
    private ExecEnvironment() {
    }

    /**
     * The whole environment: the {@code environment.*} keys of {@code expandedConfig}, the request's variables over
     * them, then {@code PATH}, {@code HOME} and {@code USER} (for root) and {@code LANG} where unset.
     */
    static Map<String, String> of(Map<String, String> expandedConfig, ExecRequest request) {
        Map<String, String> env = new TreeMap<>();
        expandedConfig.forEach((k, v) -> {
            if (k.startsWith("environment.")) {
                env.put(k.substring("environment.".length()), v);
            }
        });
        env.putAll(request.environment());
        env.putIfAbsent("PATH", AbstractInstance.DEFAULT_EXEC_PATH);
        if (request.user() == 0) {
            env.putIfAbsent("HOME", "/root");
            env.putIfAbsent("USER", "root");
        }
        env.putIfAbsent("LANG", "C.UTF-8");
        return env;
    }
}
