#!/usr/bin/env bash
# bench.sh (`make bench`): every figure Shoal tracks, in one run, each
# beside its floor so that a regression shows as a ratio (root):
#   - pod start: `shoal apply` of 20, 50 and 100 pods until all Running vs
#     `ctr run -d` of the same containers on the same containerd
#     (scripts/bench-pods.sh; N and RUNS pass through, default 20,50,100
#     and 3);
#   - DNS: Shoal's DNS server vs dnsmasq (scripts/bench-dns.sh, when
#     present);
#   - agent memory (scripts/bench-mem.sh, when present);
#   - an idle cluster's leader and agent CPU and Raft entries per second
#     (scripts/bench-idle.sh at IDLE_N agents, default 5, idle IDLE_FOR,
#     default 30s);
#   - the scheduler's Go benchmarks, Place100k and Idle100k (BENCHTIME,
#     default 1x: one pass each).
# A section that fails does not stop the others; the script then exits 1.
# The closing summary repeats each section's figures.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root "bench.sh"
# Only the pod section reads these: the other scripts have their own.
N=${N:-20,50,100}
RUNS=${RUNS:-3}
BENCHTIME=${BENCHTIME:-1x}
out=$(mktemp -d /tmp/shoal-bench-all.XXXXXX)
trap 'rm -rf "$out"' EXIT
failed=()

# section NAME CMD...: run CMD, its output shown and kept for the summary.
section() {
	local name=$1
	shift
	say "$name"
	if ! "$@" 2>&1 | tee "$out/$name.log"; then
		failed+=("$name")
	fi
}

# optional NAME SCRIPT: a section whose script another change may not have
# added yet.
optional() {
	if [[ -x $2 ]]; then
		section "$1" "$2"
	else
		echo "skipped: $2 is not there" | tee "$out/$1.log"
	fi
}

section pods env N="$N" RUNS="$RUNS" scripts/bench-pods.sh
optional dns scripts/bench-dns.sh
optional memory scripts/bench-mem.sh
section idle env N="${IDLE_N:-5}" FOR="${IDLE_FOR:-30s}" scripts/bench-idle.sh
section scheduler "${GO:-go}" test -run '^$' -bench '^Benchmark(Place100k|Idle100k)$' \
	-benchtime "$BENCHTIME" -benchmem -count=1 ./scheduler/

echo
say "summary"
echo "-- pod start (N=$N, $RUNS runs)"
sed -n '/^pod start:/,/^==>/p' "$out/pods.log" | grep -v '^==>'
grep '^agent RSS' "$out/pods.log"
for s in dns memory idle; do
	# Their closing lines hold the figures.
	echo "-- $s"
	tail -n 15 "$out/$s.log" | grep -v '^==> cleaning'
done
echo "-- scheduler"
grep '^Benchmark' "$out/scheduler.log"
if ((${#failed[@]})); then
	die "failed: ${failed[*]}"
fi
