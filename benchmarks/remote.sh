#!/usr/bin/env bash
# Measures the incus driver (incus-remote) next to the Incus Go client (github.com/lxc/incus/v6/client, what the
# `incus` CLI is built on) on the same real incusd, interleaved in one run, and prints the load average and each
# metric's median over the rounds with its ratio to the Go client: on this shared machine absolute figures drift
# 15-35 % between runs, ratios from one run much less. Needs root on Debian 12 and a running incusd with a busybox
# image alias (.ci/incusd start); the peers' build installs Go and Incus's Go sources through apt. About 3 minutes with
# 3 rounds.
#
# Usage: sudo benchmarks/remote.sh            ROUNDS=5 sudo benchmarks/remote.sh
#   PEERS   the peers' sources (default: ../shared/peers next to the repository; see its README.md)
#   CACHE   where the peers' binaries are kept (default ~/.cache; never the source tree)
#   IMAGE   the image alias on the server (default busybox, what .ci/incusd imports)
#
# A round runs the Go client's incusbench and our RemoteBench (a main in incus-remote's test tree, run on the
# module's test classpath, in its own JVM), each on its own container (rdv-bench-go, rdv-bench-j) created from the
# image and deleted at the end; odd rounds run the peer first, even rounds ours. Both do the same operations in the
# same order and counts. Raw samples go to benchmarks/results/remote-samples.txt (ignored by git).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
image=${IMAGE:-busybox}

peers=$("$peers_src/build.sh" "$cache/incus4j-peers")
[ -x "$peers/incusbench" ] || { echo "no incusbench in $peers (golang-github-lxc-incus-dev missing?)" >&2; exit 1; }

# Compiles incus-api, incus-testkit and incus-remote (main and tests) in the reactor and writes incus-remote's test
# classpath; nothing is installed.
mvn -B -q -o -Pquick -pl incus-api,incus-testkit,incus-remote -DskipTests test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.classpath >&2
cp="incus-remote/target/test-classes:incus-remote/target/classes:$(cat incus-remote/target/bench.classpath)"

mkdir -p benchmarks/results
samples=benchmarks/results/remote-samples.txt
: > "$samples"
cleanup() {
  # Only the two containers this script creates (the programs delete them; this is for a run that was cut short).
  for n in rdv-bench-go rdv-bench-j; do incus delete --force "$n" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# Prefixes "impl" to each "metric value unit" line of a command's stdout and appends them to the samples.
record() {
  local impl=$1; shift
  "$@" | awk -v p="$impl" 'NF >= 2 { print p, $0 }' | tee -a "$samples" >&2
}
# The Go program deletes its container 200 ms after a stop it does not wait for, which a loaded server may not have
# finished: each run starts from no container of that name.
go_client() {
  incus delete --force rdv-bench-go >/dev/null 2>&1 || true
  record go "$peers/incusbench" -image "$image" -name rdv-bench-go
}
ours() { record incus4j java -Xmx256m -cp "$cp" io.github.incus4j.remote.RemoteBench rdv-bench-j "$image"; }

one_round() {
  if [ $(($1 % 2)) = 1 ]; then go_client; ours; else ours; go_client; fi
}
run_rounds one_round

report_head "remote benchmark, $rounds rounds, medians; $(date -u +%Y-%m-%d) $(uname -r); incusd $(incus version 2>/dev/null | sed -n 's/^Server version: //p')"
medians_table "$samples" 2 <<'PY'
unit = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 4:
        unit[f[1]] = f[3]
base = ["connect_ms", "state_query_us", "get_instance_us", "exec_true_ms", "start_stop_ms", "snapshot_ms",
        "file_push_pull_4k_ms", "freeze_unfreeze_ms"]
rows = []
for m in base:
    rows += [m, m + "_p50", m + "_p99"] if m != "connect_ms" else [m]
print()
print("| metric | unit | Go client | incus4j | ratio |")
print("|---|---|---:|---:|---:|")
for m in rows:
    g, o = med.get(("go", m)), med.get(("incus4j", m))
    ratio = f"{o / g:.2f}" if g and o is not None else "—"
    print(f"| {m} | {unit.get(m, '')} | {fmt(g)} | {fmt(o)} | {ratio} |")
cached, state = med.get(("incus4j", "status_cached_ns")), med.get(("incus4j", "state_query_us"))
if cached and state:
    print(f"| status_cached_ns | ns | (our state_query: {state * 1000:,.0f}) | {cached:.3g} | 1/{state * 1000 / cached:,.0f} |")
for m, what in (("connect_alone_ms", "no other session open"), ("connect_cold_ms", "first session of a JVM")):
    ours = med.get(("incus4j", m))
    if ours is not None:
        print(f"| {m} ({what}) | ms | {fmt(med.get(('go', 'connect_ms')))} | {fmt(ours)} | "
              f"{ours / med[('go', 'connect_ms')]:.2f} |")
PY
