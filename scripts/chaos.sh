#!/usr/bin/env bash
# chaos.sh (`make chaos`): the long form of the randomized fault suite
# (integration TestChaos, package chaos): ROUNDS seeded fault schedules of
# 3 faults each, every fault kind including clock jumps, over 5 agents in
# network namespaces, while clients write and read; it writes a report
# (rounds, faults by kind, checks passed and failed, the failed seeds and
# how to replay one) to REPORT.
#
# Root only. It steps the machine's wall clock during clock-jump faults
# (forward, then back by the monotonic time elapsed): run it on a machine
# of its own, not beside other work that reads the wall clock.
#
# Environment: ROUNDS (default 100), SEED (default: drawn from the clock),
# KINDS (comma-separated fault kinds, default all), FAULTS (per round,
# default 3), NODES (agents, default 5, all Raft members; 8 or more puts
# clients in the cluster), REPORT (default chaos-report.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_root "chaos"
ROUNDS=${ROUNDS:-100}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: expected a positive number of rounds"
SEED=${SEED:-$(($(date +%s%N) % 1000000))}
[[ $SEED =~ ^-?[0-9]+$ ]] || die "SEED=$SEED: expected an integer"
REPORT=$(realpath -m "${REPORT:-chaos-report.txt}")
# A round takes about half a minute; allow three minutes each.
TIMEOUT=$((ROUNDS * 3 + 10))m

say "fault suite: $ROUNDS rounds from seed $SEED, report in $REPORT"
export CHAOS_ROUNDS=$ROUNDS CHAOS_SEED=$SEED CHAOS_REPORT=$REPORT
[[ -n ${KINDS:-} ]] && export CHAOS_KINDS=$KINDS
[[ -n ${FAULTS:-} ]] && export CHAOS_FAULTS=$FAULTS
[[ -n ${NODES:-} ]] && export CHAOS_NODES=$NODES
rc=0
go test ./integration -run 'TestChaos$' -count=1 -v -timeout "$TIMEOUT" || rc=$?
if [[ -f $REPORT ]]; then
	sed -n '1,/^$/p' "$REPORT"
	say "report: $REPORT"
else
	warn "no report written ($REPORT)"
fi
exit $rc
