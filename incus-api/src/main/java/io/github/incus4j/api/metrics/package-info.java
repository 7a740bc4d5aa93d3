/**
 * An instance's metrics as Incus exposes them ({@code Instance.metrics()}): a
 * {@link io.github.incus4j.api.metrics.MetricSet} of typed {@link io.github.incus4j.api.metrics.Sample}s, rendered in
 * the Prometheus text exposition format.
 */
package io.github.incus4j.api.metrics;
