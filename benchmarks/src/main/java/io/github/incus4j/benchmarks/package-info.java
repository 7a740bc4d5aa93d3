/**
 * JMH benchmarks of the fake driver's lifecycle, exec and file paths ({@link io.github.incus4j.benchmarks.FakeBenchmarks})
 * and its memory footprint ({@link io.github.incus4j.benchmarks.FakeFootprint}); see {@code benchmarks/fake.sh}.
 */
package io.github.incus4j.benchmarks;
