#!/usr/bin/env bash
# bench-mem.sh: the agent's memory at rest with 0, 20 and 100 busybox pods
# (root). For each count it prints, in MiB, from /proc/PID/smaps_rollup:
#   RSS       resident pages (Rss, what status calls VmRSS);
#   PSS       RSS with each shared page divided among the processes
#             mapping it;
#   anon      anonymous memory: Go heap, stacks, runtime, cgo and threads;
#   file      RSS - anon: pages of bin/shoal (and libc) the agent maps,
#             which the kernel can drop and re-read; PSS-file its share;
# and the agent's thread count (each thread holds a stack).
# It starts a registry with the busybox image, a private containerd and one
# agent using it, all with their own ports, bridge and pod network, and
# stops exactly those (by PID) at the end.
#
# Environment: COUNTS (default "0 20 100", ascending), SETTLE (seconds idle
# before each reading, default 35: more than the agent's 30 s between
# releases of its binary's pages), SHOAL (default bin/shoal), BENCH_ARGS
# (extra agent flags, e.g. "--keep-exe-pages" to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

COUNTS=${COUNTS:-"0 20 100"}
SETTLE=${SETTLE:-35}
REGISTRY=127.0.0.1:5057
API=127.0.0.1:7968
BRIDGE=shmem0
IMAGE=$REGISTRY/shoal/busybox:1

need_root "bench-mem"
[[ -x $SHOAL ]] || make build

dir=$(mktemp -d /tmp/shoal-benchmem.XXXXXX)
cleanup() {
	local rc=$?
	stop_pid "$dir/agent.pid" 30
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
ctrd=(ctr --address "$dir/containerd/containerd.sock" --namespace shoal)
wait_until "containerd" 30 "${ctrd[@]}" version || die "containerd did not start; see $dir/containerd.log"
# Pulled beforehand so that the figures are the agent running pods, not
# the agent after a pull.
"${ctrd[@]}" images pull --plain-http "$IMAGE" >/dev/null

unset SHOAL_TOKEN SHOAL_TOKEN_FILE
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
start_bg "$dir/agent.pid" "$dir/agent.log" "$SHOAL" agent --name benchmem \
	--data-dir "$dir/agent" --bind 127.0.0.1 --api-addr "$API" \
	--raft-addr 127.0.0.1:7967 --gossip-addr 127.0.0.1:7966 \
	--dns-addr 127.0.0.1:10163 --bridge "$BRIDGE" --cluster-cidr 10.125.0.0/16 \
	--containerd "$dir/containerd/containerd.sock" ${BENCH_ARGS:-}
agent=$(<"$dir/agent.pid")
export SHOAL_CONFIG=$dir/agent/admin.conf
if ! wait_until "agent API on $API" 60 "$SHOAL" --addr "$API" get nodes; then
	tail -n 20 "$dir/agent.log" >&2
	die "the agent did not come up"
fi

# pods FROM TO: bare busybox pods mem-FROM … mem-(TO-1).
pods() {
	local i
	for ((i = $1; i < $2; i++)); do
		cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: mem-$i
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: $IMAGE
      imagePullPolicy: IfNotPresent
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait \$!; done"]
EOF
	done
}

all_running() {
	local s
	s=$(shoal_pods_summary "$API") || return 1
	echo "$s Running"
	[[ $s == "$1/$1" ]]
}

# kib FILE FIELD: a "Field:   N kB" value.
kib() { awk -v f="$2:" '$1 == f { print $2; exit }' "$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# The agent's fencing watchdog is a second process of the same binary;
# its RSS and PSS are the last columns (PSS counts the pages both map
# once, between them).
report() {
	local roll=/proc/$agent/smaps_rollup rss pss anon wd wroll
	rss=$(kib "$roll" Rss)
	pss=$(kib "$roll" Pss)
	anon=$(kib "$roll" Anonymous)
	wd=$(pgrep -f "fence-watchdog --data-dir $dir/agent " | head -n 1 || true)
	wroll=/proc/${wd:-none}/smaps_rollup
	printf '%5s %8s %8s %8s %8s %8s %8s %8s %8s\n' "$1" "$(mib "$rss")" "$(mib "$pss")" \
		"$(mib "$anon")" "$(mib $((rss - anon)))" "$(mib "$(kib "$roll" Pss_File)")" \
		"$(kib "/proc/$agent/status" Threads)" \
		"$(mib "$(kib "$wroll" Rss 2>/dev/null || echo 0)")" "$(mib "$(kib "$wroll" Pss 2>/dev/null || echo 0)")"
}

rows=()
have=0
for n in $COUNTS; do
	if ((n > have)); then
		pods "$have" "$n" | "$SHOAL" --addr "$API" apply -f - >/dev/null
		if ! wait_until "$n pods Running" 600 all_running "$n"; then
			tail -n 20 "$dir/agent.log" >&2
			die "the pods did not start"
		fi
		have=$n
	fi
	say "$n pods: agent idle for ${SETTLE}s"
	sleep "$SETTLE"
	rows+=("$(report "$n")")
done

if ((have > 0)); then
	say "removing the pods"
	pods 0 "$have" | "$SHOAL" --addr "$API" delete -f - >/dev/null
	wait_until "pods removed" 300 pods_gone "$API" || warn "pods left behind; the cleanup kills their shims"
fi

# The table last: make bench's summary shows the closing lines.
echo
echo "agent $SHOAL, idle ${SETTLE}s at each count; MiB"
printf '%5s %8s %8s %8s %8s %8s %8s %8s %8s\n' pods RSS PSS anon file PSS-file threads wd-RSS wd-PSS
printf '%s\n' "${rows[@]}"
