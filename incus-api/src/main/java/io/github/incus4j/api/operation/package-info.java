/**
 * Long actions and their bookkeeping: a user-visible {@link io.github.incus4j.api.operation.Operation} that reports
 * progress and can be cancelled, the {@link io.github.incus4j.api.operation.ProgressTracker} of a transfer, and the
 * per-instance {@link io.github.incus4j.api.operation.InstanceOperation} lock that makes conflicting actions fail as
 * busy instead of racing.
 */
package io.github.incus4j.api.operation;
