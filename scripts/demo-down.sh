#!/usr/bin/env bash
# demo-down.sh (`make demo-down`): stop what demo-up.sh started and remove
# it: the demo's workloads first, through the agent, so each pod's
# containers, network namespace and IP are released the normal way; then
# the agents and the registry, by the PIDs demo-up.sh recorded; then the
# data dir (KEEP=1 keeps it, e.g. to read the logs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DEMO_DIR=$(realpath -m "${DEMO_DIR:-.demo}")
# demo-up.sh records the API address it used.
API=$(cat "${DEMO_DIR}/api" 2>/dev/null || echo 127.0.0.1:7948)

need_root "make demo-down"
[[ -d $DEMO_DIR ]] || {
	echo "no demo to stop ($DEMO_DIR does not exist)"
	exit 0
}

agents=()
for f in "$DEMO_DIR"/agent*.pid; do
	if [[ -f $f ]] && kill -0 "$(<"$f")" 2>/dev/null; then agents+=("$f"); fi
done

if ((${#agents[@]})) && [[ -x $SHOAL ]]; then
	say "deleting the demo's workloads"
	"$SHOAL" --addr "$API" delete -f examples/ || warn "delete -f examples/ failed; stopping anyway"
	wait_until "pods removed" 60 pods_gone "$API" ||
		warn "some pods were not removed by the agent; their processes are stopped below"
fi

for f in "$DEMO_DIR"/agent*.pid; do
	[[ -f $f ]] || continue
	say "stopping $(basename "$f" .pid) (pid $(<"$f"))"
	stop_pid "$f" 15
done
# Whatever the agents could not remove (a pod stuck in its grace period, an
# agent that had crashed): stop its processes, unmount its filesystems.
kill_shims_under "$DEMO_DIR"

if [[ -f $DEMO_DIR/registry.pid ]]; then
	say "stopping the registry (pid $(<"$DEMO_DIR/registry.pid"))"
	registry_down "$DEMO_DIR"
fi

# The pod bridge outlives the agent (an agent that restarts reuses it);
# the demo is over, so remove it once nothing is attached to it any more.
bridge=$(cat "$DEMO_DIR/bridge" 2>/dev/null || true)
if [[ -n $bridge ]] && ip link show "$bridge" >/dev/null 2>&1 && [[ -z $(ip -o link show master "$bridge") ]]; then
	say "removing the pod bridge $bridge"
	ip link del "$bridge" || warn "could not remove $bridge"
fi

unmount_under "$DEMO_DIR"
if [[ ${KEEP:-0} == 1 ]]; then
	say "kept $DEMO_DIR"
else
	rm -rf "$DEMO_DIR"
	say "removed $DEMO_DIR"
fi
