#!/usr/bin/env bash
# Live migration figures, one "name value unit" line each on stdout (the build and the tests' logs go to stderr):
# ct_stateful_stop_ms, ct_stateful_start_ms (CRIU checkpoint and restore of a busybox container),
# ct_live_migrate_total_ms, ct_live_migrate_downtime_ms (a busybox container with a counter process; the downtime is
# the counter's longest stand-still as read from the host every 5 ms), vm_live_migrate_total_ms,
# vm_live_migrate_downtime_ms (a TCG guest at rest; QEMU's own downtime from query-migrate), measured by the
# migration tests themselves. Needs root, liblxc, CRIU that passes `criu check`, busybox-static, QEMU and the test
# guest image (see incus-qemu's README). Two VM boots and a few containers: about three minutes.
# Usage: sudo benchmarks/migrate.sh (from anywhere).
set -euo pipefail
cd "$(dirname "$0")/.."

mvn -B -q -Pquick -pl incus-lxc -am verify -Dsurefire.failIfNoSpecifiedTests=false \
  -Dtest='LxcMigrationTest#runningContainer*+statefulOperations*' >&2
mvn -B -q -Pquick -pl incus-qemu -am verify -Dsurefire.failIfNoSpecifiedTests=false \
  -Dtest='QemuMigrationTest#liveMigration*' >&2

ct=incus-lxc/target/surefire-reports/io.github.incus4j.lxc.LxcMigrationTest-output.txt
vm=incus-qemu/target/surefire-reports/io.github.incus4j.qemu.QemuMigrationTest-output.txt
sed -n 's/^INFO: checkpoint \([0-9,]*\) ms, restore \([0-9,]*\) ms$/ct_stateful_stop_ms \1 ms\nct_stateful_start_ms \2 ms/p' \
  "$ct" | tr -d ,
grep -h '^ct_live_migrate_' "$ct" | awk '{print $1, $2, $3}'
grep -h '^vm_live_migrate_' "$vm" | awk '{print $1, $2, $3}'
