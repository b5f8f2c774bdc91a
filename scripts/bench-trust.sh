#!/usr/bin/env bash
# bench-trust.sh: what mutual TLS costs a 3-agent cluster on this machine.
# Runs the same measurements on two builds of Shoal, interleaved (before,
# after, before, after, ... RUNS times each), and prints one table:
#
#   before  BEFORE_REV (default 6576311, the last commit before mutual TLS):
#           plain HTTP API, bearer token <data-dir>/token, agents join
#           through agent1's gossip port (7946) with that token;
#   after   AFTER_REV (default HEAD): HTTPS API verified against the cluster
#           CA of <data-dir>/admin.conf, agents join through agent1's API
#           (7948) with <data-dir>/join-token.
#
# Each cycle starts a cluster the way scripts/demo-up.sh does (3 agents in
# network namespaces shdemo1..3 on bridge shoaldemo0, 172.30.250.11-13,
# default ports and timings, the demo's busybox image from a registry on
# the bridge) without applying examples/, and measures:
#   form      agent1 started -> 3 nodes Ready and 3 Raft voters
#   RSS idle  each agent's VmRSS once formed and the image is on every node
#   deploy    `apply` of a 20-replica Deployment -> 20 pods Ready
#   writes    `trustbench writes` (bench/cmd/trustbench): 8 workers, 20 s of
#             cordon/uncordon POSTs to a follower (forwarded to the leader)
#   RSS load  each agent's VmRSS after those writes
#   failover  kill -9 of the leader -> first acknowledged write sent after it
#             (trustbench failover, writing to both survivors every 50 ms)
# then stops it with that version's own scripts/demo-down.sh and checks
# that no namespace, link, process or mount of it is left.
#
# The two versions are built from `git archive` of their commits under
# BENCH_DIR (or taken from BEFORE_TREE / AFTER_TREE, checkouts with
# bin/shoal built). Environment: RUNS (default 2), BENCH_DIR (default
# /tmp/shoal-bench-trust), REPLICAS (20), WRITE_SECONDS (20), WORKERS (8).
# Needs root, go, skopeo, docker-registry, jq. Logs of every cycle are kept
# in BENCH_DIR/logs; the table also goes to BENCH_DIR/results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
. scripts/lib.sh
unset SHOAL_TOKEN SHOAL_TOKEN_FILE SHOAL_ADDR SHOAL_CONFIG

BEFORE_REV=${BEFORE_REV:-6576311}
AFTER_REV=${AFTER_REV:-HEAD}
# Resolved once: HEAD may move while the benchmark runs.
BEFORE_REV=$(git rev-parse --short "$BEFORE_REV^{commit}")
AFTER_REV=$(git rev-parse --short "$AFTER_REV^{commit}")
RUNS=${RUNS:-2}
BENCH_DIR=$(realpath -m "${BENCH_DIR:-/tmp/shoal-bench-trust}")
REPLICAS=${REPLICAS:-20}
WRITE_SECONDS=${WRITE_SECONDS:-20}
WORKERS=${WORKERS:-8}
SUBNET=172.30.250
HOSTBR=shoaldemo0
REGISTRY=$SUBNET.1:5000
IMAGE=$REGISTRY/shoal/busybox:1
export CGO_CFLAGS=${CGO_CFLAGS:-"-O2 -g -Wno-deprecated-declarations"}

need_root "bench-trust.sh"
for c in go skopeo docker-registry jq nsenter; do
	command -v "$c" >/dev/null || die "$c is not installed (scripts/install-deps.sh; go must be on root's PATH: sudo env PATH=\$PATH ...)"
done
ip link show "$HOSTBR" >/dev/null 2>&1 && die "$HOSTBR exists: a demo is running (make demo-down stops it)"
ip netns list | grep -q '^shdemo' && die "shdemo network namespaces exist: a demo is running (make demo-down stops it)"

mkdir -p "$BENCH_DIR"/{logs,results}
rm -f "$BENCH_DIR"/results/*

# tree V COMMIT: a checkout of COMMIT with bin/shoal, printed. BEFORE_TREE or
# AFTER_TREE name one already built.
tree() {
	local v=$1 commit=$2 given dir
	given=$([[ $v == before ]] && echo "${BEFORE_TREE:-}" || echo "${AFTER_TREE:-}")
	if [[ -n $given ]]; then
		[[ -x $given/bin/shoal ]] || die "$given/bin/shoal is not built"
		realpath "$given"
		return
	fi
	dir=$BENCH_DIR/tree-$v
	rm -rf "$dir"
	mkdir -p "$dir"
	git archive "$commit" | tar -x -C "$dir"
	say "building $v ($commit) in $dir" >&2
	(cd "$dir" && go build -trimpath -ldflags "-s -w -X main.version=$commit -X main.commit=$commit" -o bin/shoal ./cmd/shoal) >&2
	echo "$dir"
}
TREE_before=$(tree before "$BEFORE_REV")
TREE_after=$(tree after "$AFTER_REV")
say "building trustbench and the busybox image"
go build -o "$BENCH_DIR/trustbench" ./bench/cmd/trustbench
TB=$BENCH_DIR/trustbench
go run scripts/mkimage.go -o "$BENCH_DIR/busybox.tar"

# --- the cluster of one cycle ------------------------------------------
# Set by cycle(): V (before|after), D (its DEMO_DIR), BIN, API.
V= D= BIN= API=

cli() {
	if [[ $V == before ]]; then
		SHOAL_TOKEN=$(<"$D/agent1/token") "$BIN" --addr "$API" "$@"
	else
		"$BIN" --config "$D/agent1/admin.conf" --addr "$API" "$@"
	fi
}

# auth: trustbench's flags for this version's credentials.
auth() {
	if [[ $V == before ]]; then echo --token-file "$D/agent1/token"; else echo --config "$D/agent1/admin.conf"; fi
}

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# start_agent I: as demo-up.sh's, the same flags for both versions but the
# join: gossip port and token before, API port and join token after.
start_agent() {
	local i=$1 addr=$SUBNET.$((10 + $1)) join=()
	if ((i > 1)); then
		if [[ $V == before ]]; then
			join=(--join "$SUBNET.11:7946" --token-file "$D/token")
		else
			join=(--join "$SUBNET.11:7948" --token-file "$D/join-token")
		fi
	fi
	start_bg "$D/agent$i.pid" "$D/agent$i.log" \
		nsenter "--net=/run/netns/shdemo$i" -- "$BIN" agent --name "agent$i" --data-dir "$D/agent$i" \
		--bridge shoal0 --bind "$addr" --advertise "$addr" --dns-addr "$addr:1053" \
		--insecure-registry "$REGISTRY" "${join[@]}"
}

nodes_formed() {
	local out ready voters
	out=$(cli get nodes 2>&1) || {
		echo "not answering yet"
		return 1
	}
	ready=$(awk 'NR > 1 && $2 == "Ready"' <<<"$out" | wc -l)
	voters=$(awk 'NR > 1 && ($3 == "leader" || $3 == "voter")' <<<"$out" | wc -l)
	echo "$ready/3 Ready, $voters/3 voters"
	((ready == 3 && voters == 3))
}

# pods_count: "READY TOTAL" from get pods' READY column (n/n).
pods_count() {
	cli get pods 2>/dev/null | awk 'NR > 1 { split($2, r, "/"); t++; if (r[2] > 0 && r[1] == r[2]) n++ } END { print n + 0, t + 0 }'
}
pods_are() {
	local ready total
	read -r ready total < <(pods_count)
	echo "$ready/$total pods Ready"
	[[ $ready == "$1" && $total == "$1" ]]
}
pods_none() {
	local ready total
	read -r ready total < <(pods_count)
	echo "$total pods left"
	[[ $total == 0 ]] && cli get pods >/dev/null 2>&1
}

leader() { cli get nodes | awk 'NR > 1 && $3 == "leader" { print $1 }'; }

rss_mib() {
	awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$(<"$D/agent$1.pid")/status"
}

manifests() {
	mkdir -p "$D/manifests"
	local i
	for ((i = 1; i <= 3; i++)); do
		cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: warm$i
spec:
  replicas: 1
  selector:
    matchLabels:
      app: warm$i
  template:
    metadata:
      labels:
        app: warm$i
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector:
        kubernetes.io/hostname: agent$i
      containers:
        - name: sleep
          image: $IMAGE
          command: ["sh", "-c", "while true; do sleep 3600; done"]
          resources:
            requests:
              cpu: 10m
              memory: 8Mi
EOF
	done >"$D/warm.yaml"
	cat >"$D/manifests/bench.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench
spec:
  replicas: $REPLICAS
  selector:
    matchLabels:
      app: bench
  template:
    metadata:
      labels:
        app: bench
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: sleep
          image: $IMAGE
          command: ["sh", "-c", "while true; do sleep 3600; done"]
          resources:
            requests:
              cpu: 10m
              memory: 8Mi
            limits:
              memory: 16Mi
EOF
}

# result KEY VALUE: one measurement of this cycle.
result() { echo "$1=$2" >>"$RES"; }

# cycle V RUN: one cluster of version V, measured and removed.
cycle() {
	V=$1
	local run=$2 tree t0 i pid leader follower wnode json survivors=() fifo fpid
	tree=TREE_$V
	tree=${!tree}
	BIN=$tree/bin/shoal
	D=$BENCH_DIR/run$run-$V
	RES=$BENCH_DIR/results/$V-$run
	API=$SUBNET.11:7948
	rm -rf "$D"
	mkdir -p "$D"
	echo "$API" >"$D/api"
	echo 3 >"$D/agents"
	echo shoal0 >"$D/bridge"
	echo "$D/manifests" >"$D/examples-dir"
	[[ $V == after ]] && echo "$D/agent1/admin.conf" >"$D/config"
	manifests
	say "=== $V, run $run ($BIN)"
	demo_network "$D" "$SUBNET" "$HOSTBR" 3
	registry_up "$D" "$REGISTRY"
	skopeo copy -q --dest-tls-verify=false "oci-archive:$BENCH_DIR/busybox.tar" "docker://$IMAGE" ||
		die "could not push $IMAGE"

	t0=$(now_ns)
	start_agent 1
	if [[ $V == before ]]; then
		wait_until "agent1's token" 60 test -s "$D/agent1/token" || die "agent1 wrote no token; see $D/agent1.log"
		install -m 0600 "$D/agent1/token" "$D/token"
	else
		wait_until "agent1's credentials" 60 test -s "$D/agent1/admin.conf" || die "agent1 wrote no admin.conf; see $D/agent1.log"
		install -m 0600 "$D/agent1/join-token" "$D/join-token"
	fi
	wait_until "agent1's API" 60 cli get nodes || die "agent1's API does not answer; see $D/agent1.log"
	start_agent 2
	start_agent 3
	wait_until "3 agents formed" 120 nodes_formed || die "the cluster did not form; see $D/agent*.log"
	result form_s "$(secs_since "$t0")"
	for i in 1 2 3; do
		[[ $(cat "/proc/$(<"$D/agent$i.pid")/comm") == shoal ]] || die "agent$i's PID file does not name the agent"
	done

	say "pulling $IMAGE on every node"
	cli apply -f "$D/warm.yaml" >/dev/null
	wait_until "3 warm-up pods Ready" 180 pods_are 3 || die "warm-up pods not Ready"
	cli delete -f "$D/warm.yaml" >/dev/null
	wait_until "warm-up pods gone" 60 pods_none || die "warm-up pods not removed"
	sleep 5
	for i in 1 2 3; do result "rss_idle_$i" "$(rss_mib "$i")"; done

	say "deploying $REPLICAS pods"
	t0=$(now_ns)
	cli apply -f "$D/manifests/bench.yaml" >/dev/null
	local ready total deadline=$((SECONDS + 300))
	while true; do
		read -r ready total < <(pods_count)
		[[ $ready == "$REPLICAS" && $total == "$REPLICAS" ]] && break
		((SECONDS < deadline)) || die "$ready/$total pods Ready after 300 s"
		sleep 0.2
	done
	result deploy_s "$(secs_since "$t0")"

	leader=$(leader)
	[[ -n $leader ]] || die "no leader in get nodes"
	result leader_writes "$leader"
	follower=agent2
	[[ $leader == agent2 ]] && follower=agent3
	wnode=agent3
	[[ $leader == agent3 ]] && wnode=agent1
	say "writes: $WORKERS workers for ${WRITE_SECONDS}s to $follower (leader $leader), cordoning $wnode"
	# shellcheck disable=SC2046
	json=$("$TB" writes --addr "$SUBNET.$((10 + ${follower#agent})):7948" $(auth) --node "$wnode" \
		--duration "${WRITE_SECONDS}s" --workers "$WORKERS")
	echo "    $json"
	result writes_per_s "$(jq -r .perSecond <<<"$json")"
	result writes_p50_ms "$(jq -r .p50ms <<<"$json")"
	result writes_p99_ms "$(jq -r .p99ms <<<"$json")"
	result writes_errors "$(jq -r .errors <<<"$json")"
	result writes_target "$follower"
	cli uncordon "$wnode" >/dev/null
	for i in 1 2 3; do result "rss_load_$i" "$(rss_mib "$i")"; done

	cli delete -f "$D/manifests/bench.yaml" >/dev/null
	wait_until "bench pods gone" 120 pods_none || die "bench pods not removed"

	leader=$(leader)
	[[ -n $leader ]] || die "no leader in get nodes"
	result leader_killed "$leader"
	for i in 1 2 3; do
		[[ agent$i == "$leader" ]] || survivors+=("$SUBNET.$((10 + i)):7948")
	done
	wnode=agent1
	[[ $leader == agent1 ]] && wnode=agent2
	say "failover: writing to ${survivors[*]} every 50 ms, then kill -9 of $leader (pid $(<"$D/$leader.pid"))"
	fifo=$D/failover.fifo
	mkfifo "$fifo"
	# shellcheck disable=SC2046
	"$TB" failover --addrs "$(
		IFS=,
		echo "${survivors[*]}"
	)" $(auth) --node "$wnode" <"$fifo" >"$D/failover.json" 2>"$D/failover.err" &
	fpid=$!
	exec 3>"$fifo"
	sleep 3
	kill -0 "$fpid" 2>/dev/null || die "trustbench failover stopped early: $(cat "$D/failover.err")"
	pid=$(<"$D/$leader.pid")
	kill -9 "$pid"
	echo "killed $(now_ns)" >&3
	exec 3>&-
	# Reaped here, quietly (else bash reports the agent as Killed).
	{ wait "$pid"; } 2>/dev/null || true
	wait "$fpid" || die "trustbench failover: $(cat "$D/failover.err")"
	json=$(<"$D/failover.json")
	echo "    $json"
	result failover_ms "$(jq -r .failoverMs <<<"$json")"
	result failover_failed_writes "$(jq -r .failedAfterKill <<<"$json")"
	result failover_ok_before "$(jq -r .okBeforeKill <<<"$json")"
	API=${survivors[0]}
	echo "$API" >"$D/api"
	cli get nodes >"$D/nodes-after-failover.txt" 2>&1 || true

	teardown
}

# errors_in LOG: the agent's error lines (slog: level=ERROR).
errors_in() { grep -ciE 'level=(error|ERROR)|"level":"error"' "$1" || true; }

# teardown: keep the logs, then this version's demo-down.sh with D as its
# DEMO_DIR; then check that nothing of the cycle is left.
teardown() {
	local logs=$BENCH_DIR/logs/$(basename "$D") i tree
	mkdir -p "$logs"
	cp "$D"/*.log "$D"/*.json "$D"/*.txt "$logs/" 2>/dev/null || true
	for i in 1 2 3; do
		[[ -f $D/agent$i.log ]] && result "log_errors_$i" "$(errors_in "$D/agent$i.log")"
	done
	tree=TREE_$V
	tree=${!tree}
	say "stopping the $V cluster ($tree/scripts/demo-down.sh)"
	DEMO_DIR=$D SHOAL=bin/shoal "$tree/scripts/demo-down.sh" >"$logs/demo-down.out" 2>&1 ||
		{
			cat "$logs/demo-down.out"
			die "demo-down failed"
		}
	check_clean
	D=
}

check_clean() {
	local left=()
	ip netns list | grep -q '^shdemo' && left+=("network namespaces: $(ip netns list | grep '^shdemo' | tr '\n' ' ')")
	ip link show "$HOSTBR" >/dev/null 2>&1 && left+=("bridge $HOSTBR")
	ip -o link show | grep -q 'vshdemo' && left+=("veth links")
	iptables -S FORWARD | grep -q shoal-demo && left+=("iptables rule")
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$D/" &&
			left+=("process ${p#/proc/}: $(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | cut -c1-100)")
	done
	findmnt -rn -o TARGET | grep -qF "$D/" && left+=("mounts under $D")
	[[ -e $D ]] && left+=("$D")
	if ((${#left[@]})); then
		printf '  left: %s\n' "${left[@]}" >&2
		die "the $V cluster was not removed completely"
	fi
	echo "    clean: no shdemo namespace, link, process, mount or data left"
}

# On failure or Ctrl-C: stop the cycle's cluster the same way.
on_exit() {
	local rc=$?
	exec 3>&- || true
	if [[ -n ${D:-} && -d ${D:-/nonexistent} ]]; then
		warn "stopping the $V cluster after a failure (logs in $BENCH_DIR/logs)"
		trap - EXIT
		teardown || true
	fi
	exit "$rc"
}
trap on_exit EXIT

for ((run = 1; run <= RUNS; run++)); do
	cycle before "$run"
	cycle after "$run"
done

# --- the table -------------------------------------------------------------
get() { awk -F= -v k="$2" '$1 == k { print $2 }' "$BENCH_DIR/results/$1"; }
{
	echo
	echo "Shoal: mutual TLS cost, 3 agents on $(hostname) ($(nproc) CPUs); before = $BEFORE_REV, after = $AFTER_REV"
	cols=()
	for ((run = 1; run <= RUNS; run++)); do cols+=("before-$run" "after-$run"); done
	printf '%-34s' metric
	printf '%12s' "${cols[@]}"
	echo
	row() {
		local label=$1 key=$2 c
		printf '%-34s' "$label"
		for c in "${cols[@]}"; do printf '%12s' "$(get "$c" "$key")"; done
		echo
	}
	row "cluster formed (s)" form_s
	row "RSS idle agent1 (MiB)" rss_idle_1
	row "RSS idle agent2 (MiB)" rss_idle_2
	row "RSS idle agent3 (MiB)" rss_idle_3
	row "$REPLICAS pods Ready after apply (s)" deploy_s
	row "writes/s (to a follower)" writes_per_s
	row "write p50 (ms)" writes_p50_ms
	row "write p99 (ms)" writes_p99_ms
	row "write errors" writes_errors
	row "RSS after writes agent1 (MiB)" rss_load_1
	row "RSS after writes agent2 (MiB)" rss_load_2
	row "RSS after writes agent3 (MiB)" rss_load_3
	row "leader killed" leader_killed
	row "kill -9 leader -> ack'd write (ms)" failover_ms
	row "writes failed during failover" failover_failed_writes
	row "error lines in agent1 log" log_errors_1
	row "error lines in agent2 log" log_errors_2
	row "error lines in agent3 log" log_errors_3
} | tee "$BENCH_DIR/results.txt"
