/**
 * The Incus instance interface in Java: {@link io.github.incus4j.api.InstanceDrivers} chooses a
 * {@link io.github.incus4j.api.Driver} and opens it on a root directory as {@link io.github.incus4j.api.Instances},
 * which creates and finds {@link io.github.incus4j.api.Instance}s ({@link io.github.incus4j.api.Container},
 * {@link io.github.incus4j.api.VM}) that behave as Incus's do: same preconditions, same error texts (as subclasses of
 * {@link io.github.incus4j.api.IncusException}), same JSON. Records live in {@code model}, commands in {@code exec},
 * file access in {@code file}, long actions in {@code operation}, migration in {@code migration}; what a driver author
 * implements is in {@code spi}. Types marked {@code @API(status = STABLE)} keep their signatures across minor
 * versions; {@code EXPERIMENTAL} ones may still change.
 */
package io.github.incus4j.api;
