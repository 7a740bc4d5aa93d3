/**
 * Running things inside an instance: an {@link io.github.incus4j.api.exec.ExecRequest} given to
 * {@code Instance.exec} starts a {@link io.github.incus4j.api.exec.Cmd} (its streams, exit status and signals), and
 * {@code Instance.console} attaches a {@link io.github.incus4j.api.exec.ConsoleSession}.
 */
package io.github.incus4j.api.exec;
