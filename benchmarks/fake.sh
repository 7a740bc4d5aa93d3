#!/usr/bin/env bash
# Measures the fake driver and prints one line per metric, "name value unit", on stdout; the build and JMH's own
# output go to stderr. About 2 minutes on 2 cores. Usage: benchmarks/fake.sh (from anywhere).
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds incus-api, incus-testkit and the self-contained benchmarks jar in the reactor; nothing is installed.
mvn -B -q -Pbenchmarks,quick -pl benchmarks -am -DskipTests package >&2

jar=benchmarks/target/benchmarks.jar
results=benchmarks/results
mkdir -p "$results"

# Short runs: 2 warm-up and 3 measured iterations of 2 s, one fork.
java -jar "$jar" -wi 2 -w 2s -i 3 -r 2s -f 1 -rf csv -rff "$results/fake-jmh.csv" 'FakeBenchmarks' >&2

# CSV columns: "Benchmark","Mode","Threads","Samples","Score","Score Error (99.9%)","Unit"; the method is the metric.
awk -F, 'NR > 1 {
  sub(/\r$/, "");
  gsub(/"/, "", $1); gsub(/"/, "", $7);
  name = $1; sub(/.*\./, "", name);
  unit = $7; if (unit == "ms/op") unit = "ms";
  printf "%s %s %s\n", name, ($5 >= 100 ? sprintf("%.0f", $5) : sprintf("%.3g", $5)), unit
}' "$results/fake-jmh.csv"

# A fresh JVM with a stop-the-world collector: the heap after System.gc() is the live set.
java -XX:+UseSerialGC -Xms1g -Xmx1g -cp "$jar" io.github.incus4j.benchmarks.FakeFootprint
