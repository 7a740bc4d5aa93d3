#!/usr/bin/env bash
# Measures the lxc driver on a real busybox container (created and deleted by the run) and prints one line per
# metric, "name value unit", on stdout; the build goes to stderr. Needs root, liblxc1, lxc and busybox-static.
# About a minute. Usage: sudo benchmarks/lxc.sh (from anywhere).
#
# The measuring code is a main in incus-lxc's test tree (io.github.incus4j.lxc.LxcBench), run on the module's test
# classpath, where it shares the helpers the tests use.
# These are single-shot wall-clock means and percentiles of real container operations (milliseconds each), where
# JMH's harness would add nothing but time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Compiles incus-api, incus-testkit and incus-lxc (main and tests) in the reactor and writes incus-lxc's test
# classpath; nothing is installed.
mvn -B -q -Pquick -pl incus-api,incus-testkit,incus-lxc -DskipTests test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.classpath >&2

cp="incus-lxc/target/test-classes:incus-lxc/target/classes:$(cat incus-lxc/target/bench.classpath)"

# Every metric in a JVM with a small heap...
java -Xmx256m -cp "$cp" io.github.incus4j.lxc.LxcBench
# ...and exec again in one with a 4 GB pre-touched heap: lxc-attach is spawned (posix_spawn), not a JVM fork.
java -Xmx4g -Xms4g -XX:+AlwaysPreTouch -cp "$cp" io.github.incus4j.lxc.LxcBench exec exec_true_bigheap_ms
