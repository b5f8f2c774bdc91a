#!/usr/bin/env bash
# demo-down.sh (`make demo-down`): stop what demo-up.sh started and remove
# it: the demo's workloads first, through an agent, so each pod's
# containers, network namespace and IP are released the normal way; then
# the agents and the registry, by the PIDs demo-up.sh recorded; then what
# is left running from the data dir (containerd shims and their
# containers), the pod network namespaces, the agents' network namespaces,
# the demo bridge and its iptables rule, all by the names demo-up.sh
# recorded; then the data dir (KEEP=1 keeps it, e.g. to read the logs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DEMO_DIR=$(realpath -m "${DEMO_DIR:-.demo}")
# demo-up.sh records the API address, the credentials file (agent1's
# admin.conf: server, cluster CA, admin token) and the examples it used.
# Only those credentials are used: a token from the caller's environment
# would override theirs.
API=$(cat "$DEMO_DIR/api" 2>/dev/null || echo 127.0.0.1:7948)
SHOAL_CONFIG=$(cat "$DEMO_DIR/config" 2>/dev/null || echo "$DEMO_DIR/agent1/admin.conf")
export SHOAL_CONFIG
unset SHOAL_TOKEN SHOAL_TOKEN_FILE SHOAL_ADDR
EXAMPLES=$(cat "$DEMO_DIR/examples-dir" 2>/dev/null || echo examples)
[[ -d $EXAMPLES ]] || EXAMPLES=examples

need_root "make demo-down"
[[ -d $DEMO_DIR ]] || {
	echo "no demo to stop ($DEMO_DIR does not exist)"
	exit 0
}

agents=()
for f in "$DEMO_DIR"/agent*.pid; do
	if [[ -f $f ]] && kill -0 "$(<"$f")" 2>/dev/null; then agents+=("$f"); fi
done

if ((${#agents[@]})) && [[ -x $SHOAL ]] && [[ ! -r $SHOAL_CONFIG ]]; then
	warn "no credentials in $SHOAL_CONFIG (agent1 never led?): stopping the agents without deleting the workloads first"
elif ((${#agents[@]})) && [[ -x $SHOAL ]]; then
	say "deleting the demo's workloads"
	"$SHOAL" --config "$SHOAL_CONFIG" --addr "$API" delete -f "$EXAMPLES/" || warn "delete -f $EXAMPLES/ failed; stopping anyway"
	wait_until "pods removed" 60 pods_gone "$API" ||
		warn "some pods were not removed by the agents; their processes are stopped below"
fi

# All agents at once: once some have stopped, the rest lose their quorum
# and should not have to wait on each other.
for f in "$DEMO_DIR"/agent*.pid; do
	[[ -f $f ]] || continue
	say "stopping $(basename "$f" .pid) (pid $(<"$f"))"
	stop_pid "$f" 15 &
done
wait
# Whatever the agents could not remove (a pod stuck in its grace period, an
# agent that had crashed): stop its processes, unmount its filesystems.
kill_shims_under "$DEMO_DIR"
# Pod network namespaces are named after the pod UIDs under each agent's
# data dir (/run/netns/shoal-<uid>).
for d in "$DEMO_DIR"/agent*/pods/*; do
	[[ -d $d ]] || continue
	ns=/run/netns/shoal-$(basename "$d")
	[[ -e $ns ]] || continue
	umount -l "$ns" 2>/dev/null || true
	rm -f "$ns"
done

if [[ -f $DEMO_DIR/registry.pid ]]; then
	say "stopping the registry (pid $(<"$DEMO_DIR/registry.pid"))"
	registry_down "$DEMO_DIR"
fi

# Several agents: their network namespaces (each with its pod bridge and
# veths) and the demo bridge on the host, by the names recorded.
if [[ -f $DEMO_DIR/netns ]]; then
	while read -r ns; do
		[[ -n $ns ]] || continue
		say "removing network namespace $ns"
		ip link del "v$ns" 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done <"$DEMO_DIR/netns"
fi
if [[ -f $DEMO_DIR/iptables-rule ]]; then
	read -r -a rule <"$DEMO_DIR/iptables-rule"
	iptables -D FORWARD "${rule[@]}" 2>/dev/null || true
fi
if [[ -f $DEMO_DIR/hostbridge ]]; then
	hostbr=$(<"$DEMO_DIR/hostbridge")
	if ip link show "$hostbr" >/dev/null 2>&1; then
		say "removing bridge $hostbr"
		ip link del "$hostbr" || warn "could not remove $hostbr"
	fi
fi

# One agent: its pod bridge is on the host and outlives it (an agent that
# restarts reuses it); the demo is over, so remove it once nothing is
# attached to it any more.
bridge=$(cat "$DEMO_DIR/bridge" 2>/dev/null || true)
if [[ $(cat "$DEMO_DIR/agents" 2>/dev/null || echo 1) == 1 ]] && [[ -n $bridge ]] &&
	ip link show "$bridge" >/dev/null 2>&1 && [[ -z $(ip -o link show master "$bridge") ]]; then
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
