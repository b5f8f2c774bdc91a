# lib.sh: helpers shared by demo-up.sh, demo-down.sh and bench-pods.sh.
# Sourced, not run. Every process a script starts is recorded in a PID file
# so the matching "down" step stops exactly that process and nothing else.
# The shoal calls below name only the agent's address: their credentials
# (the cluster CA and a token) come from SHOAL_CONFIG, which the calling
# script exports (an agent's root-only <data-dir>/admin.conf).

SHOAL=${SHOAL:-bin/shoal}

say() { echo "==> $*"; }
warn() { echo "warning: $*" >&2; }
die() {
	echo "error: $*" >&2
	exit 1
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "$1 needs root (containerd, network namespaces, cgroups): run it with sudo"
}

# wait_until DESC TIMEOUT_S CMD...: run CMD every second until it succeeds,
# printing one progress line that updates in place (CMD's last output line
# is shown beside the elapsed time). Fails after TIMEOUT_S.
wait_until() {
	local desc=$1 timeout=$2 start=$SECONDS out
	shift 2
	while true; do
		if out=$("$@" 2>&1); then
			printf '\r    %s: ok (%ds)%-30s\n' "$desc" $((SECONDS - start)) ""
			return 0
		fi
		if ((SECONDS - start >= timeout)); then
			printf '\r    %s: gave up after %ds\n' "$desc" "$timeout"
			[[ -n $out ]] && echo "    last: $out"
			return 1
		fi
		printf '\r    %s: %s (%ds)%-10s' "$desc" "$(tail -n1 <<<"$out" | cut -c1-60)" $((SECONDS - start)) ""
		sleep 1
	done
}

# start_bg PIDFILE LOGFILE CMD...: start CMD in the background in its own
# session (so a Ctrl-C in the terminal does not reach it), record its PID.
start_bg() {
	local pidfile=$1 logfile=$2
	shift 2
	setsid "$@" >"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"
}

# stop_pid PIDFILE [GRACE_S]: SIGTERM the recorded process, SIGKILL it after
# GRACE_S (default 10), remove the file. A stale file is just removed.
stop_pid() {
	local pidfile=$1 grace=${2:-10} pid i
	[[ -f $pidfile ]] || return 0
	pid=$(<"$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			warn "pid $pid did not stop in ${grace}s; killing it"
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pidfile"
}

# registry_up DIR ADDR: make sure a registry answers on ADDR. One that
# already answers is used as it is (DIR/registry.pid is then not written,
# so registry_down leaves it alone); otherwise Debian's docker-registry is
# started with its storage under DIR.
# demo_network DIR SUBNET BRIDGE N: the demo's "hosts": bridge BRIDGE with
# SUBNET.1/24 and network namespaces shdemo1..N at SUBNET.11.., each name
# recorded in DIR first (hostbridge, iptables-rule, netns) so that
# demo-down.sh removes exactly these.
demo_network() {
	local dir=$1 subnet=$2 br=$3 n=$4 i ns
	echo "$br" >"$dir/hostbridge"
	ip link add "$br" type bridge
	ip addr add "$subnet.1/24" dev "$br"
	ip link set "$br" up
	# Bridged frames cross the host's FORWARD chain when br_netfilter is
	# loaded, and its policy may be DROP.
	echo "-i $br -o $br -j ACCEPT -m comment --comment shoal-demo" >"$dir/iptables-rule"
	iptables -I FORWARD -i "$br" -o "$br" -j ACCEPT -m comment --comment shoal-demo
	for ((i = 1; i <= n; i++)); do
		ns=shdemo$i
		echo "$ns" >>"$dir/netns"
		ip netns add "$ns"
		ip link add "v$ns" type veth peer name eth0 netns "$ns"
		ip link set "v$ns" master "$br" up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$subnet.$((10 + i))/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "$subnet.1"
	done
}

registry_up() {
	local dir=$1 addr=$2
	mkdir -p "$dir"
	if curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null; then
		say "using the registry already answering on $addr"
		return 0
	fi
	command -v docker-registry >/dev/null || die "docker-registry not installed (scripts/install-deps.sh)"
	cat >"$dir/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/registry
  delete:
    enabled: true
http:
  addr: $addr
EOF
	say "starting docker-registry on $addr"
	start_bg "$dir/registry.pid" "$dir/registry.log" docker-registry serve "$dir/registry.yml"
	wait_until "registry on $addr" 20 curl -fsS -o /dev/null "http://$addr/v2/" ||
		die "registry did not start; see $dir/registry.log"
}

registry_down() { stop_pid "$1/registry.pid" 5; }

# image_push DIR REF: build the busybox OCI image (scripts/mkimage.go, from
# the host's static busybox) and push it to REF, a registry on loopback
# spoken to over plain HTTP.
image_push() {
	local dir=$1 ref=$2
	say "building the busybox image and pushing it as $ref"
	go run scripts/mkimage.go -o "$dir/busybox.tar" || die "could not build the image"
	skopeo copy -q --dest-tls-verify=false "oci-archive:$dir/busybox.tar" "docker://$ref" ||
		die "could not push $ref"
}

# shoal_pods_summary ADDR: "RUNNING/TOTAL" pods, from get pods -o json,
# without needing jq: every pod has exactly one "phase" field.
shoal_pods_summary() {
	local json total running
	json=$("$SHOAL" --addr "$1" get pods -o json) || return 1
	total=$(grep -Eo '"phase": *"[A-Za-z]+"' <<<"$json" | wc -l)
	running=$(grep -Eo '"phase": *"Running"' <<<"$json" | wc -l)
	echo "$running/$total"
}

# pods_ready ADDR WANT: succeeds when WANT pods exist and every one is
# Ready (READY n/n in get pods): only then do their Services answer by name.
pods_ready() {
	local out ready total
	out=$("$SHOAL" --addr "$1" get pods) || return 1
	read -r ready total < <(awk 'NR > 1 { split($2, r, "/"); t++; if (r[2] > 0 && r[1] == r[2]) n++ } END { print n + 0, t + 0 }' <<<"$out")
	echo "$ready/$total pods Ready"
	[[ $ready == "$2" && $total == "$2" ]]
}

# pods_gone ADDR: succeeds once the agent lists no pods.
pods_gone() {
	local s
	s=$(shoal_pods_summary "$1") || return 1
	echo "${s#*/} pods left"
	[[ ${s#*/} == 0 ]]
}

# unmount_under DIR: lazily unmount whatever is still mounted below DIR
# (container root filesystems, a killed containerd's shm), deepest first,
# so the directory can be removed.
unmount_under() {
	local dir
	dir=$(realpath -m "$1")
	findmnt -rn -o TARGET | { grep -F "$dir/" || true; } | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
}

# kill_shims_under DIR: containerd shims outlive containerd and the agent
# by design; when the agent that owned them is gone for good (demo-down,
# bench cleanup), stop the shims whose containerd lived under DIR, with the
# containers they run (their children), by PID.
# The agents' fencing watchdogs (`shoal fence-watchdog --data-dir DIR/..`)
# outlive them too, until their lease runs out; they go first.
kill_shims_under() {
	local dir pid child
	dir=$(realpath -m "$1")
	for pid in $(pgrep -f "fence-watchdog --data-dir $dir/" || true); do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $(pgrep containerd-shim || true); do
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == containerd-shim* ]] || continue
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/" || continue
		for child in $(pgrep -P "$pid" || true); do
			kill -9 "$child" 2>/dev/null || true
		done
		kill "$pid" 2>/dev/null || true
	done
}
