#!/usr/bin/env bash
# Measures the QMP client of incus-qemu against a real QEMU and, in the same run on the same QEMU, a bare Python
# socket client and go-qemu's qmp package (the peers' qmpbench) issuing the same commands; prints the load average and
# a table of medians with ratios to the Python client on stdout (the builds and QEMU's own output go to stderr).
# Needs qemu-system-x86_64 and python3, and root for the peers' build (apt) and the guest image's first build. About
# three minutes. Usage: sudo benchmarks/qmp.sh
#   PEERS   the peers' sources (default: ../shared/peers next to the repository; see its README.md)
#   CACHE   where the peers' binaries are kept (default ~/.cache; never the source tree)
#
# The measuring code is a main in incus-qemu's test tree (io.github.incus4j.qemu.qmp.QmpBench), run on the module's
# test classpath, where it shares the helpers the tests use. Each of 10 rounds runs the three clients in turn (QEMU
# serves one QMP client at a time; the first to go rotates), so that all see the same machine load; a metric is the
# median over the rounds of each round's mean (or 99th percentile). The JVM is warmed up first.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
peers=$("$peers_src/build.sh" "$cache/incus4j-peers")

# Compiles incus-api, incus-testkit and incus-qemu (main and tests) in the reactor and writes incus-qemu's test
# classpath; nothing is installed.
mvn -B -q -Pquick -pl incus-api,incus-testkit,incus-qemu -DskipTests test-compile dependency:build-classpath \
  -Dmdep.includeScope=test -Dmdep.outputFile=target/bench.classpath >&2

cp="incus-qemu/target/test-classes:incus-qemu/target/classes:$(cat incus-qemu/target/bench.classpath)"

# A short run directory: unix socket paths are limited to 107 bytes.
run=$(mktemp -d /tmp/incus4j-qmp-bench.XXXXXX)
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ]; then kill -9 "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$run"
}
trap cleanup EXIT

# The peer: a plain-socket QMP client, one request at a time, reading lines until the reply with its id (skipping
# events), as a script would. Arguments: socket, connects, queries, pairs; prints one "name nanoseconds" line per
# sample (the Java side aggregates the rounds).
cat > "$run/peer.py" <<'PY'
import json, socket, sys, time

path = sys.argv[1]
connects, queries, pairs = (int(a) for a in sys.argv[2:5])
next_id = 0
out = []

def call(sock, f, command):
    global next_id
    next_id += 1
    sock.sendall(b'{"execute":"%s","id":%d}\n' % (command.encode(), next_id))
    while True:
        line = f.readline()
        if not line:
            sys.exit("EOF from QEMU")
        msg = json.loads(line)
        if msg.get("id") == next_id:
            if "error" in msg:
                sys.exit("%s: %s" % (command, msg["error"]))
            return msg["return"]

def connect():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    f = sock.makefile("rb")
    json.loads(f.readline())  # greeting
    call(sock, f, "qmp_capabilities")
    return sock, f

for _ in range(connects):
    t0 = time.perf_counter_ns()
    sock, f = connect()
    out.append("connect %d" % (time.perf_counter_ns() - t0))
    f.close()
    sock.close()

sock, f = connect()
for _ in range(queries):
    t0 = time.perf_counter_ns()
    call(sock, f, "query-status")
    out.append("query_status %d" % (time.perf_counter_ns() - t0))
call(sock, f, "cont")
for _ in range(pairs):
    t0 = time.perf_counter_ns()
    call(sock, f, "stop")
    call(sock, f, "cont")
    out.append("stop_cont %d" % (time.perf_counter_ns() - t0))
call(sock, f, "stop")
f.close()
sock.close()
print("\n".join(out))
PY

# Exactly this QEMU: a q35 machine under TCG, paused before the guest runs, nothing but the QMP monitor.
qemu-system-x86_64 -machine q35,accel=tcg -m 64 -nodefaults -display none \
  -qmp "unix:$run/qmp.sock,server=on,wait=off" -S >&2 &
qemu_pid=$!
for _ in $(seq 1 200); do [ -S "$run/qmp.sock" ] && break; sleep 0.05; done

echo "qmp benchmark, 10 rounds, medians; $(date -u +%Y-%m-%d) $(uname -r)"
echo "start: $(load)"
java -Xmx256m -cp "$cp" io.github.incus4j.qemu.qmp.QmpBench "$run/qmp.sock" "$run/peer.py" "$peers/qmpbench"
echo "end:   $(load)"
echo

# vm_boot_s: the test guest (built by incus-qemu/guest/build-vm-image.sh on first use, then cached) started by the
# driver until its agent runs a command, median of 3; KVM where it works, else TCG.
# (run from incus-qemu/, where the tests find guest/).
(cd incus-qemu && java -Xmx256m -Dincus4j.qemu.accel=auto \
  -cp "target/test-classes:target/classes:$(cat target/bench.classpath)" io.github.incus4j.qemu.VmBootBench)
