#!/usr/bin/env bash
# Measures the lxc driver next to go-lxc (the liblxc binding the Incus daemon uses) and lxc-create, interleaved in
# one run, and prints each metric's median with its ratio to the peer: on this shared machine absolute figures drift
# 15-35 % between runs, ratios from one run much less. Needs root on Debian 12 (liblxc1, lxc, busybox-static; the
# peers' build installs Go and go-lxc through apt). About 10 minutes with 3 rounds.
#
# Usage: sudo benchmarks/lxc.sh            ROUNDS=5 sudo benchmarks/lxc.sh
#   PEERS   the peers' sources (default: ../shared/peers next to the repository; see its README.md)
#   CACHE   where the peers' binaries and the test images are kept (default ~/.cache; never the source tree)
#
# A round runs, for each kind of container (privileged; unprivileged: go-lxc's created with -idmap 1000000, ours
# with the driver's map from /etc/subuid), go-lxc's lxcbench, then our LxcBench (a main in incus-lxc's test tree, run
# on the module's test classpath, each in its own JVM and its own busybox container), then creation from an image:
# ours (create() from a split image) and lxc-create -t local from the same two xz tarballs. Odd rounds run the
# peer first, even rounds ours. exec_true_bigheap_ms is exec again in a JVM with a 4 GB pre-touched heap (lxc-attach
# is spawned, never a fork of the JVM). Raw samples go to benchmarks/results/lxc-samples.txt (ignored by git).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The peers, built once into the cache (build.sh prints the directory).
peers=$("$peers_src/build.sh" "$cache/incus4j-peers")

# Compiles incus-api, incus-testkit and incus-lxc (main and tests) in the reactor and writes incus-lxc's test
# classpath; nothing is installed.
mvn -B -q -Pquick -pl incus-api,incus-testkit,incus-lxc -DskipTests test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.classpath >&2
cp="incus-lxc/target/test-classes:incus-lxc/target/classes:$(cat incus-lxc/target/bench.classpath)"

mkdir -p benchmarks/results
samples=benchmarks/results/lxc-samples.txt
: > "$samples"
# An unprivileged container's root must traverse every directory above its root filesystem.
work=$(mktemp -d /tmp/incus4j-lxc-bench.XXXXXX)
chmod 755 "$work"
t=
cleanup() {
  [ -n "$t" ] && rm -rf "$t"
  for kind in privileged unprivileged; do
    "$peers/lxcbench" -path "$work/go" -name "go-$kind" -cleanup >&2 || true
    lxc-destroy -P "$work/local" -n "local-$kind" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# ---- the images for creation: busybox (lxc's busybox template's rootfs) and the same plus 200 MB of this host's
# /usr files (under /opt/bench); xz tarballs, as lxc-create -t local reads only those. The metadata tarball holds Incus's
# metadata.yaml and lxc-local's config. Built once into the cache.
images=$cache/incus4j-bench-images
if [ ! -f "$images/done" ]; then
  rm -rf "$images"; mkdir -p "$images"
  t=$(mktemp -d /tmp/incus4j-bench-image.XXXXXX)
  lxc-create -P "$t" -n bb -t busybox >&2
  mkdir "$t/meta"
  printf 'architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: benchmark busybox\n' \
    > "$t/meta/metadata.yaml"
  printf 'lxc.arch = x86_64\n' > "$t/meta/config"
  tar --numeric-owner -C "$t/meta" -cJf "$images/meta.tar.xz" metadata.yaml config
  tar --numeric-owner -C "$t/bb/rootfs" -cf - . | xz -1 -T2 > "$images/busybox.tar.xz"
  # Regular files below 16 MB, in a fixed order, until 200 MB (209,715,200 bytes).
  find /usr/lib /usr/share -xdev -type f -size -16M -printf '%s %p\n' | sort -k2 \
    | awk '{ s += $1; if (s <= 209715200) print substr($0, index($0, " ") + 1) }' > "$t/files"
  mkdir -p "$t/bb/rootfs/opt/bench"
  tar -cf - -T "$t/files" 2>/dev/null | tar -C "$t/bb/rootfs/opt/bench" -xf -
  tar --numeric-owner -C "$t/bb/rootfs" -cf - . | xz -1 -T2 > "$images/big.tar.xz"
  rm -rf "$t"; t=
  touch "$images/done"
fi

# Prefixes "impl kind" to each "metric value unit" line of a command's stdout and appends them to the samples.
record() {
  local impl=$1 kind=$2; shift 2
  "$@" | awk -v p="$impl $kind" 'NF >= 2 { print p, $0 }' | tee -a "$samples" >&2
}

golxc() {
  local kind=$1 idmap=()
  [ "$kind" = unprivileged ] && idmap=(-idmap 1000000)
  record go-lxc "$kind" "$peers/lxcbench" -path "$work/go" -name "go-$kind" "${idmap[@]}"
}

ours() {
  local kind=$1
  record incus4j "$kind" java -Xmx256m -cp "$cp" io.github.incus4j.lxc.LxcBench "$kind"
  if [ "$kind" = unprivileged ]; then
    record incus4j "$kind" java -Xmx4g -Xms4g -XX:+AlwaysPreTouch -cp "$cp" io.github.incus4j.lxc.LxcBench "$kind" \
      exec exec_true_bigheap_ms
  fi
}

ours_create() {
  local kind=$1
  record incus4j "$kind" java -Xmx256m -cp "$cp" io.github.incus4j.lxc.LxcBench "$kind" create \
    create_from_image_busybox_ms 3 "$images/meta.tar.xz" "$images/busybox.tar.xz" \
    create_from_image_200mb_ms 1 "$images/meta.tar.xz" "$images/big.tar.xz"
}

# lxc-create -t local: its own process, timed from the shell; the unprivileged one with go-lxc's id map (liblxc runs
# the template in a user namespace with it). Deleting is not timed.
local_create_once() {
  local kind=$1 fstree=$2 conf=()
  if [ "$kind" = unprivileged ]; then
    printf 'lxc.idmap = u 0 1000000 65536\nlxc.idmap = g 0 1000000 65536\n' > "$work/idmap.conf"
    conf=(-f "$work/idmap.conf")
  fi
  local t0 t1
  t0=$(date +%s%N)
  lxc-create -P "$work/local" -n "local-$kind" -t local "${conf[@]}" -- -m "$images/meta.tar.xz" -f "$fstree" \
    >/dev/null 2>"$work/local.err" || { cat "$work/local.err" >&2; return 1; }
  t1=$(date +%s%N)
  lxc-destroy -P "$work/local" -n "local-$kind" >/dev/null
  echo $(( (t1 - t0) / 1000 ))
}

local_create() {
  local kind=$1 sum=0 us
  mkdir -p "$work/local"
  for _ in 1 2 3; do us=$(local_create_once "$kind" "$images/busybox.tar.xz"); sum=$((sum + us)); done
  echo "lxc-create $kind create_from_image_busybox_ms $(awk -v u=$sum 'BEGIN { printf "%.2f", u / 3000 }') ms" \
    | tee -a "$samples" >&2
  us=$(local_create_once "$kind" "$images/big.tar.xz")
  echo "lxc-create $kind create_from_image_200mb_ms $(awk -v u="$us" 'BEGIN { printf "%.1f", u / 1000 }') ms" \
    | tee -a "$samples" >&2
}

one_round() {
  local r=$1
  for kind in privileged unprivileged; do
    if [ $((r % 2)) = 1 ]; then golxc "$kind"; ours "$kind"; else ours "$kind"; golxc "$kind"; fi
  done
  for kind in privileged unprivileged; do
    if [ $((r % 2)) = 1 ]; then local_create "$kind"; ours_create "$kind"; else ours_create "$kind"; local_create "$kind"; fi
  done
}
run_rounds one_round

# Medians over the rounds; ratios to the peer of the same kind, exec_true_bigheap_ms to our own small-heap exec.
report_head "lxc benchmark, $rounds rounds, medians; $(date -u +%Y-%m-%d) $(uname -r)"
medians_table "$samples" 3 <<'PY'
rows = ["state_query_ns", "state_cached_ns", "freeze_unfreeze_p50_ms", "freeze_unfreeze_max_ms", "exec_true_ms", "start_stop_ms",
        "snapshot_ms", "exec_true_bigheap_ms", "create_from_image_busybox_ms", "create_from_image_200mb_ms"]
print()
print("| metric | kind | peer | peer | incus4j | ratio |")
print("|---|---|---|---:|---:|---:|")
for m in rows:
    for kind in ("privileged", "unprivileged"):
        ours = med.get(("incus4j", kind, m))
        if ours is None:
            continue
        if m == "state_cached_ns":
            peer, base = "incus4j state_query_ns", med.get(("incus4j", kind, "state_query_ns"))
        elif m == "exec_true_bigheap_ms":
            peer, base = "incus4j small heap", med.get(("incus4j", kind, "exec_true_ms"))
        elif m.startswith("create_from_image"):
            peer, base = "lxc-create -t local", med.get(("lxc-create", kind, m))
        else:
            peer, base = "go-lxc", med.get(("go-lxc", kind, m))
        ratio = f"{ours / base:.2f}" if base else "—"
        print(f"| {m} | {kind} | {peer} | {fmt(base)} | {fmt(ours)} | {ratio} |")
PY
