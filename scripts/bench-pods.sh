#!/usr/bin/env bash
# bench-pods.sh (`make bench-pods`): the two runtime figures, on this
# machine, in one command (root):
#   - `shoal apply` of N single-container pods until all Running, beside
#     `ctr run -d` of the same N containers on the same containerd, as a
#     ratio;
#   - the agent's RSS when idle with those N pods.
# It starts a registry with the busybox image, a private containerd and one
# agent using it (--containerd, so ctr and the agent share it), runs
# bench/cmd/podbench against them, and stops and removes all of it.
#
# Environment: N (pod counts, comma-separated; default 20), RUNS (1),
# SETTLE (default 10s), LOG_LEVEL (the agent's, info), AGENT_LOG (copy the
# agent's log there at the end, to see where its time went), BENCH_REGISTRY
# (default 127.0.0.1:5055), BENCH_API (default 127.0.0.1:7958), BENCH_RAFT
# (127.0.0.1:7957), BENCH_BRIDGE (shbench0), BENCH_CIDR (10.124.0.0/16).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

N=${N:-20}
RUNS=${RUNS:-1}
SETTLE=${SETTLE:-10s}
LOG_LEVEL=${LOG_LEVEL:-info}
AGENT_LOG=${AGENT_LOG:-}
REGISTRY=${BENCH_REGISTRY:-127.0.0.1:5055}
API=${BENCH_API:-127.0.0.1:7958}
# Its own Raft port, bridge and pod network, so the benchmark runs beside
# an agent (or a demo) already on this machine without touching it.
RAFT=${BENCH_RAFT:-127.0.0.1:7957}
BRIDGE=${BENCH_BRIDGE:-shbench0}
CIDR=${BENCH_CIDR:-10.124.0.0/16}
IMAGE=$REGISTRY/shoal/busybox:1

need_root "bench-pods"
scripts/install-deps.sh
[[ -x $SHOAL ]] || make build

dir=$(mktemp -d /tmp/shoal-bench.XXXXXX)
cleanup() {
	local rc=$?
	say "cleaning up $dir"
	stop_pid "$dir/agent.pid" 15
	if [[ -n $AGENT_LOG ]]; then cp "$dir/agent.log" "$AGENT_LOG" || true; fi
	# Whatever the agent left (it removes its pods itself when asked; a
	# failed run may not have asked), then containerd.
	kill_shims_under "$dir"
	stop_pid "$dir/containerd.pid" 10
	registry_down "$dir"
	ip link del "$BRIDGE" 2>/dev/null || true
	unmount_under "$dir"
	rm -rf "$dir"
	exit "$rc"
}
trap cleanup EXIT

registry_up "$dir" "$REGISTRY"
image_push "$dir" "$IMAGE"

say "starting a private containerd"
mkdir -p "$dir/containerd"
cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd/containerd.sock"
[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"
EOF
start_bg "$dir/containerd.pid" "$dir/containerd.log" containerd --config "$dir/containerd/config.toml"
wait_until "containerd" 30 ctr --address "$dir/containerd/containerd.sock" version ||
	die "containerd did not start; see $dir/containerd.log"

say "starting the agent"
# It creates a cluster of its own: a join token in its environment would
# stop it (and override the CLI's token below).
unset SHOAL_TOKEN SHOAL_TOKEN_FILE
start_bg "$dir/agent.pid" "$dir/agent.log" "$SHOAL" agent --name bench \
	--data-dir "$dir/agent" --bind 127.0.0.1 --api-addr "$API" \
	--dns-addr 127.0.0.1:10153 --raft-addr "$RAFT" --bridge "$BRIDGE" \
	--cluster-cidr "$CIDR" --containerd "$dir/containerd/containerd.sock" \
	--log-level "$LOG_LEVEL"
# The API trusts no client for being local: the CLI reads the agent's
# admin credentials (server, cluster CA, token; root only), and only them.
export SHOAL_CONFIG=$dir/agent/admin.conf
if ! wait_until "agent API on $API" 60 "$SHOAL" --addr "$API" get nodes; then
	tail -n 20 "$dir/agent.log" >&2
	die "the agent did not come up"
fi

go run ./bench/cmd/podbench -shoal "$SHOAL" -addr "$API" \
	-containerd "$dir/containerd/containerd.sock" -image "$IMAGE" \
	-credentials "$SHOAL_CONFIG" -agent-pid "$(<"$dir/agent.pid")" \
	-n "$N" -runs "$RUNS" -settle "$SETTLE"
