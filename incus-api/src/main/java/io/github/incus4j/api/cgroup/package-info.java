/**
 * A running instance's cgroup ({@link io.github.incus4j.api.cgroup.CGroup}, from {@code Instance.cgroup()}): limits
 * and counters read and written with cgroup v2 file names whatever the host runs.
 */
package io.github.incus4j.api.cgroup;
