#!/usr/bin/env bash
# bench-idle.sh (`make bench-idle`): what an idle cluster costs, at each
# size in N (root). For each count it starts that many real agents in
# network namespaces with the default flags and no pods (integration's
# BenchmarkIdleCPU: they share one containerd, each in its own containerd
# namespace), lets the cluster settle, then over FOR of idle time reads
# every agent's CPU from /proc/PID/stat and the Raft index, and prints
# one row per count:
#   raft     the Raft voters (the leader among them) / non-voting
#            replicas / clients (agents outside Raft that follow a
#            member's state stream), as the leader lists them;
#   leader   the leader's CPU, percent of one core;
#   member   the other Raft members' mean (max beside it);
#   client   the clients' mean (max beside it; - without clients);
#   entries  Raft entries committed per second;
#   visible  after the window, the median time a write through the
#            leader, after a quiet second, takes to show on another
#            member, then on a client (ms; 10 writes each).
#
# Environment: N (counts, space- or comma-separated, default "5 10 20
# 30"), FOR (idle window, default 60s), SETTLE (before the window,
# default 30s), ARGS (extra agent flags, e.g. "--raft-commit-timeout
# 200ms"), SHOAL (the binary the agents run, default bin/shoal, built if
# missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

N=${N:-"5 10 20 30"}
FOR=${FOR:-60s}
SETTLE=${SETTLE:-30s}
ARGS=${ARGS:-${SHOAL_IDLE_ARGS:-}}

need_root "bench-idle"
[[ -x $SHOAL ]] || make build
counts=$(echo "$N" | tr ' ' ',' | sed 's/,,*/,/g; s/^,//; s/,$//')

out=$(mktemp /tmp/shoal-bench-idle.XXXXXX)
trap 'rm -f "$out"' EXIT
say "idle cluster at N=$counts: settle $SETTLE, then measure $FOR each${ARGS:+ (agent flags: $ARGS)}"
SHOAL_BIN=$(realpath "$SHOAL") SHOAL_IDLE_ARGS=$ARGS SHOAL_IDLE_N=$counts SHOAL_IDLE_FOR=$FOR SHOAL_IDLE_SETTLE=$SETTLE \
	"${GO:-go}" test ./integration -run '^$' -bench '^BenchmarkIdleCPU$' -benchtime 1x \
	-count=1 -timeout 120m 2>&1 | tee "$out"

# The table last: make bench's summary shows the closing lines. A
# benchmark line reads: name 1 ns/op, then value-unit pairs (sorted by
# unit); a row without clients has no client figures.
echo
echo "idle cluster, no pods, flags: ${ARGS:-default}; CPU in % of one core over $FOR"
awk '
	function f(k) { return k in v ? v[k] : "-" }
	function n(k) { return k in v ? v[k] + 0 : "-" }
	BEGIN { printf "%7s %8s %7s %7s %7s %7s %7s %10s %8s %8s\n", "agents", "raft", "leader", "member", "max", "client", "max", "entries/s", "vis-mbr", "vis-cli" }
	/^BenchmarkIdleCPU\/agents=/ {
		split($1, a, "="); sub(/-[0-9]+$/, "", a[2])
		delete v
		for (i = 5; i < NF; i += 2) v[$(i + 1)] = $i
		printf "%7s %8s %7s %7s %7s %7s %7s %10s %8s %8s\n", a[2], n("voters") "/" n("replicas") "/" n("clients"),
			f("leader-%core"), f("member-%core"), f("member-max-%core"), f("client-%core"), f("client-max-%core"),
			f("entries/s"), f("visible-ms"), f("client-visible-ms")
		rows++
	}
	END { if (!rows) exit 1 }' "$out" || die "no figures: see the output above"
