# Sourced by the benchmarks that measure us next to a peer (lxc.sh, remote.sh, qmp.sh), after `set -euo pipefail`:
# the repository as working directory, the settings they share, and the parts of a run they do alike.
#   ROUNDS  rounds of a run (default 3)
#   PEERS   the peers' sources (default: ../shared/peers next to the repository; see its README.md)
#   CACHE   where the peers' binaries are kept (default ~/.cache; never the source tree)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
rounds=${ROUNDS:-3}
peers_src=${PEERS:-$repo/../shared/peers}
cache=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}

load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores) $(date -u +%H:%M:%S) UTC"; }

# Runs "$@" with the round's number once per round, logging the load average to stderr; sets start_load and end_load.
run_rounds() {
  start_load=$(load)
  echo "$start_load" >&2
  for r in $(seq 1 "$rounds"); do
    echo "round $r: $(load)" >&2
    "$@" "$r"
  done
  end_load=$(load)
}

# Prints the report's head on stdout: the title $1, then the load average before and after the rounds.
report_head() {
  echo "$1"
  echo "start: $start_load"
  echo "end:   $end_load"
}

# Runs the Python program read from stdin after a prelude over the samples file $1, whose lines are "<key fields>
# value unit" with $2 key fields (implementation, [kind,] metric): `med` maps the tuple of a line's key fields to the
# median of its values over the rounds, `fmt` formats a figure for the table.
medians_table() {
  local prelude
  prelude=$(cat <<'PY'
import statistics, sys
from collections import defaultdict
keys = int(sys.argv[2])
v = defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= keys + 1:
        v[tuple(f[:keys])].append(float(f[keys]))
med = {k: statistics.median(x) for k, x in v.items()}
def fmt(x):
    return "—" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:.3g}")
PY
)
  python3 -c "$prelude
$(cat)" "$1" "$2"
}
