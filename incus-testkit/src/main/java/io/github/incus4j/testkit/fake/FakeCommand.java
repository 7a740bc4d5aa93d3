package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * A simulated program, run by {@code exec} when its name is asked for (see {@link FakeCommands}). It reads
 * {@link FakeProcess#stdin()}, writes {@link FakeProcess#stdout()} and {@link FakeProcess#stderr()}, and returns its
 * exit status (0 to 255; other values are reduced modulo 256, as the kernel does). An exception ends the command
 * with status 1 and its message on stderr. It runs on a driver-owned thread, which is interrupted when the command
 * is killed.
 */
@API(status = EXPERIMENTAL)
@FunctionalInterface
public interface FakeCommand {
    int run(FakeProcess process) throws Exception;
}
