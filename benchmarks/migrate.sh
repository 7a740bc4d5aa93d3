#!/usr/bin/env bash
# Live migration figures, one "name value unit" line each on stdout (the build and the tests' logs go to stderr):
# ct_stateful_stop_ms, ct_stateful_start_ms (CRIU checkpoint and restore of a busybox container),
# ct_live_migrate_total_ms, ct_live_migrate_downtime_ms (a busybox container with a counter process; the downtime is
# the counter's longest stand-still as read from the host every 5 ms), vm_live_migrate_total_ms,
# vm_live_migrate_downtime_ms (a 256 MiB TCG guest at rest migrated pre-copy over TCP between two network
# namespaces; the guest's own view: the longest gap in the 10 ms heartbeat it writes to a serial port),
# vm_stop_and_copy_ms (the same guest back by stop-and-copy: paused for the whole transfer, same heartbeat), each VM
# figure followed by QEMU's own downtime (vm_*_qemu_downtime_ms), measured by the migration tests themselves; last
# the load average (the machine is shared: the figures move with it). Needs root, liblxc, CRIU that passes
# `criu check`, busybox-static, QEMU and the test guest image (see incus-qemu's README). One VM boot and a few
# containers: about three minutes.
# Usage: sudo benchmarks/migrate.sh (from anywhere).
set -euo pipefail
cd "$(dirname "$0")/.."

mvn -B -q -Pquick -pl incus-lxc -am verify -Dsurefire.failIfNoSpecifiedTests=false \
  -Dtest='LxcMigrationTest#runningContainer*+statefulOperations*' >&2
mvn -B -q -Pquick -pl incus-qemu -am verify -Dsurefire.failIfNoSpecifiedTests=false \
  -Dtest='QemuMigrationTest#liveMigration*' >&2
load=$(cut -d' ' -f1-3 /proc/loadavg)

ct=incus-lxc/target/surefire-reports/io.github.incus4j.lxc.LxcMigrationTest-output.txt
vm=incus-qemu/target/surefire-reports/io.github.incus4j.qemu.QemuMigrationTest-output.txt
sed -n 's/^INFO: checkpoint \([0-9,]*\) ms, restore \([0-9,]*\) ms$/ct_stateful_stop_ms \1 ms\nct_stateful_start_ms \2 ms/p' \
  "$ct" | tr -d ,
grep -h '^ct_live_migrate_' "$ct" | awk '{print $1, $2, $3}'
grep -h '^vm_' "$vm" | awk '{print $1, $2, $3}'
echo "load_average ${load// /,} 1m,5m,15m"
