package io.github.incus4j.api.exec;

import static org.apiguardian.api.API.Status.STABLE;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.Immutable;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * A command to run in an instance ({@code api.InstanceExecPost}); JSON names as Incus's
 * ({@code wait-for-websocket}, {@code record-output}). The command is an argv, never passed through a shell.
 * {@code width}/{@code height} size the pty of an interactive command. An empty {@code cwd} means the default
 * ({@code /root} for uid 0, as Incus).
 */
@API(status = STABLE)
public record ExecRequest(
        @JsonProperty("command") List<String> command,
        @JsonProperty("environment") Map<String, String> environment,
        @JsonProperty("cwd") String cwd,
        @JsonProperty("user") int user,
        @JsonProperty("group") int group,
        @JsonProperty("interactive") boolean interactive,
        @JsonProperty("width") int width,
        @JsonProperty("height") int height,
        @JsonProperty("wait-for-websocket") boolean waitForWebsocket,
        @JsonProperty("record-output") boolean recordOutput) {

    public ExecRequest {
        command = Immutable.list(command);
        if (command.isEmpty() || command.get(0).isEmpty()) {
            throw new InvalidArgumentException("Command not found");
        }
        environment = Immutable.sortedMap(environment);
        cwd = cwd == null ? "" : cwd;
        if (user < 0 || group < 0) {
            throw new InvalidArgumentException("Invalid user or group: " + user + ":" + group);
        }
        if (width < 0 || height < 0) {
            throw new InvalidArgumentException("Invalid window size: " + width + "x" + height);
        }
    }

    /** A non-interactive request for this argv as root, with no extra environment. */
    public static ExecRequest of(String... argv) {
        return builder(argv).build();
    }

    public static Builder builder(String... argv) {
        return new Builder(List.of(argv));
    }

    public static Builder builder(List<String> argv) {
        return new Builder(argv);
    }

    /** Builds {@link ExecRequest}. */
    public static final class Builder {
        private final List<String> command;
        private final Map<String, String> environment = new HashMap<>();
        private String cwd = "";
        private int user;
        private int group;
        private boolean interactive;
        private int width = 80;
        private int height = 24;
        private boolean recordOutput;

        private Builder(List<String> command) {
            this.command = List.copyOf(command);
        }

        public Builder env(String key, String value) {
            environment.put(key, value);
            return this;
        }

        public Builder environment(Map<String, String> env) {
            environment.putAll(env);
            return this;
        }

        public Builder cwd(String cwd) {
            this.cwd = cwd;
            return this;
        }

        public Builder user(int uid) {
            this.user = uid;
            return this;
        }

        public Builder group(int gid) {
            this.group = gid;
            return this;
        }

        public Builder interactive(boolean interactive) {
            this.interactive = interactive;
            return this;
        }

        public Builder window(int width, int height) {
            this.width = width;
            this.height = height;
            return this;
        }

        public Builder recordOutput(boolean recordOutput) {
            this.recordOutput = recordOutput;
            return this;
        }

        public ExecRequest build() {
            return new ExecRequest(command, environment, cwd, user, group, interactive, width, height, false,
                    recordOutput);
        }
    }
}
