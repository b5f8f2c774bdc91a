#!/usr/bin/env bash
# demo-up.sh (`make demo`): run examples/ (a webapp, an LLM stand-in, a db
# StatefulSet) on a Shoal cluster on this machine, from nothing: install
# what is missing, build, start the agents, apply, wait with visible
# progress, show the result and say how to use and stop it
# (`make demo-down`).
#
# AGENTS=3 (the default): three agents, each in its own network namespace
# (shdemo1..3) on a bridge (shoaldemo0, 172.30.250.0/24: the host is .1,
# agent N is .1N), with the agent's default ports. agent1 creates the
# cluster (its CA, its join token and DEMO_DIR/agent1/admin.conf, the
# admin credentials the CLI uses here); the others join it through its API
# with `--join 172.30.250.11:7948 --token-file F`, F a root-only copy of
# agent1's join token.
# The registry listens on the bridge's host address so every namespace
# pulls from it, and examples/ (which name 127.0.0.1:5000) are applied
# from a copy under DEMO_DIR with the image reference rewritten.
# AGENTS=1: one agent on the host's network (127.0.0.1), the fallback.
#
# Environment: DEMO_DIR (default .demo), AGENTS (default 3),
# DEMO_SUBNET (default 172.30.250, a /24's first three octets),
# DEMO_REGISTRY (default 127.0.0.1:5000 with one agent, DEMO_SUBNET.1:5000
# with several), DEMO_TIMEOUT (default 300 s), DEMO_API (one agent:
# default 127.0.0.1:7948), DEMO_RAFT (one agent: default the agent's),
# DEMO_BRIDGE (the pod bridge, default shoal0), DEMO_AGENT_ARGS (more agent
# flags, e.g. "--cluster-cidr 10.123.0.0/16").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DEMO_DIR=$(realpath -m "${DEMO_DIR:-.demo}")
AGENTS=${AGENTS:-3}
SUBNET=${DEMO_SUBNET:-172.30.250}
HOSTBR=shoaldemo0
if ((AGENTS > 1)); then
	REGISTRY=${DEMO_REGISTRY:-$SUBNET.1:5000}
	API=$SUBNET.11:7948
else
	REGISTRY=${DEMO_REGISTRY:-127.0.0.1:5000}
	API=${DEMO_API:-127.0.0.1:7948}
fi
TIMEOUT=${DEMO_TIMEOUT:-300}
IMAGE=$REGISTRY/shoal/busybox:1
# DEMO_RAFT moves Raft off its default port (7947), e.g. beside an agent
# already running on this machine (one agent only).
RAFT=${DEMO_RAFT:-}
# The pod bridge each agent creates in its network (its default name, made
# explicit so demo-down can remove it in the one-agent case).
BRIDGE=${DEMO_BRIDGE:-shoal0}
# agent1's credentials for the CLI (server, cluster CA, admin token; root
# only), written once agent1 leads. Every CLI call here reads them, and
# nothing else: a SHOAL_TOKEN or SHOAL_TOKEN_FILE from the caller's
# environment would override their token (and make agent1 refuse to start:
# a join token is for joining).
CONFIG=$DEMO_DIR/agent1/admin.conf
export SHOAL_CONFIG=$CONFIG
unset SHOAL_TOKEN SHOAL_TOKEN_FILE SHOAL_ADDR

need_root "make demo"
[[ $AGENTS =~ ^[1-9]$ ]] || die "AGENTS=$AGENTS: 1 to 9 agents"
if [[ -f $DEMO_DIR/agent1.pid ]] && kill -0 "$(<"$DEMO_DIR/agent1.pid")" 2>/dev/null; then
	die "a demo is already running (pid $(<"$DEMO_DIR/agent1.pid")); stop it with: make demo-down"
fi
if ((AGENTS > 1)); then
	ip link show "$HOSTBR" >/dev/null 2>&1 && die "$HOSTBR exists: a demo is running (make demo-down stops it)"
	ip -4 route show table all | grep -qF " $SUBNET." && die "$SUBNET.0/24 is in use on this host; pick another with DEMO_SUBNET=172.30.X"
	ip -4 route show table all | grep -qE "^$SUBNET\." && die "$SUBNET.0/24 is in use on this host; pick another with DEMO_SUBNET=172.30.X"
elif curl -ks -o /dev/null "https://$API/v1/health" 2>/dev/null; then
	die "an agent already answers on $API; stop it, or run with DEMO_API=127.0.0.1:PORT DEMO_RAFT=127.0.0.1:PORT"
fi
mkdir -p "$DEMO_DIR"
echo "$API" >"$DEMO_DIR/api"
echo "$CONFIG" >"$DEMO_DIR/config"
echo "$BRIDGE" >"$DEMO_DIR/bridge"
echo "$AGENTS" >"$DEMO_DIR/agents"

say "checking packages"
scripts/install-deps.sh

if [[ ! -x $SHOAL ]]; then
	say "building $SHOAL"
	make build
fi

if ((AGENTS > 1)); then
	# The host's side of the demo network, before the registry binds to it.
	# Every name is recorded first, so demo-down removes exactly these.
	say "creating bridge $HOSTBR ($SUBNET.1/24) and $AGENTS network namespaces"
	demo_network "$DEMO_DIR" "$SUBNET" "$HOSTBR" "$AGENTS"
fi

registry_up "$DEMO_DIR" "$REGISTRY"
image_push "$DEMO_DIR" "$IMAGE"
# examples/ name 127.0.0.1:5000 (readable as they are, and what one agent
# uses); any other registry gets a copy under DEMO_DIR that names it.
EXAMPLES=examples
if [[ $REGISTRY != 127.0.0.1:5000 ]]; then
	EXAMPLES=$DEMO_DIR/examples
	mkdir -p "$EXAMPLES"
	for f in examples/*.yaml; do
		sed "s#127\.0\.0\.1:5000/#$REGISTRY/#g" "$f" >"$EXAMPLES/$(basename "$f")"
	done
fi
echo "$EXAMPLES" >"$DEMO_DIR/examples-dir"

# start_agent I: agent I with its data under DEMO_DIR/agentI. Without
# --containerd the agent supervises its own containerd under the data dir.
# One agent: on the host's loopback, its DNS server on a high port so it
# never fights the host's resolver for port 53. Several: each under
# `nsenter --net` (its own network; the host's filesystem, so the pods'
# namespaces and mounts stay visible to demo-down) on its own address.
start_agent() {
	local i=$1 name=agent$1 extra=() pre=() addr more=()
	if ((AGENTS > 1)); then
		addr=$SUBNET.$((10 + i))
		pre=(nsenter "--net=/run/netns/shdemo$i" --)
		extra+=(--bind "$addr" --advertise "$addr" --dns-addr "$addr:1053" --insecure-registry "$REGISTRY")
		if ((i > 1)); then extra+=(--join "$SUBNET.11:7948" --token-file "$DEMO_DIR/join-token"); fi
	else
		[[ -n $RAFT ]] && extra+=(--raft-addr "$RAFT")
		extra+=(--bind 127.0.0.1 --api-addr "$API" --dns-addr "127.0.0.1:$((10052 + i))")
		[[ $REGISTRY == 127.0.0.1:* ]] || extra+=(--insecure-registry "$REGISTRY")
	fi
	# DEMO_AGENT_ARGS: more agent flags, split on spaces.
	read -r -a more <<<"${DEMO_AGENT_ARGS:-}"
	extra+=("${more[@]}")
	say "starting $name (data in $DEMO_DIR/$name, log in $DEMO_DIR/$name.log)"
	start_bg "$DEMO_DIR/$name.pid" "$DEMO_DIR/$name.log" \
		"${pre[@]}" "$SHOAL" agent --name "$name" --data-dir "$DEMO_DIR/$name" \
		--bridge "$BRIDGE" "${extra[@]}"
}

cli() { "$SHOAL" --config "$CONFIG" --addr "$API" "$@"; }

api_up() {
	cli get nodes >/dev/null 2>&1 || {
		echo "not answering yet"
		return 1
	}
}

# nodes_ready N: N nodes listed, all Ready (get nodes' STATUS column).
nodes_ready() {
	local out ready
	out=$(cli get nodes 2>&1) || {
		echo "not answering yet"
		return 1
	}
	ready=$(awk 'NR > 1 && $2 == "Ready"' <<<"$out" | wc -l)
	# Formed also means the leader has promoted its voters (3 from 3
	# agents), which it does once they have been alive a few seconds.
	voters=$(awk 'NR > 1 && ($3 == "leader" || $3 == "voter")' <<<"$out" | wc -l)
	want_voters=1
	(($1 >= 3)) && want_voters=3
	(($1 >= 7)) && want_voters=5
	echo "$ready/$1 nodes Ready, $voters/$want_voters Raft voters"
	((ready == $1 && voters == want_voters))
}

start_agent 1
# agent1 writes its join token, then admin.conf, once it leads the new
# cluster. The joiners read a root-only copy of the join token, as another
# host would; the token itself is never printed.
wait_until "agent1's credentials" 60 test -s "$CONFIG" ||
	die "agent1 wrote no $CONFIG; see $DEMO_DIR/agent1.log"
install -m 0600 "$DEMO_DIR/agent1/join-token" "$DEMO_DIR/join-token"
if ! wait_until "agent1 API on $API" 60 api_up; then
	tail -n 20 "$DEMO_DIR/agent1.log" >&2
	die "agent1 did not come up; see $DEMO_DIR/agent1.log"
fi
for ((i = 2; i <= AGENTS; i++)); do start_agent "$i"; done
if ((AGENTS > 1)) && ! wait_until "$AGENTS agents joined" 120 nodes_ready "$AGENTS"; then
	cli get nodes || true
	die "the cluster did not form; see $DEMO_DIR/agent*.log (make demo-down cleans up)"
fi

say "applying $EXAMPLES/"
cli apply -f "$EXAMPLES/"

# The number of pods examples/ ask for: the sum of their replicas.
want=$(grep -h '^  replicas:' examples/*.yaml | awk '{s += $2} END {print s + 0}')
# Ready, not only Running: the instructions below reach Services by name,
# and DNS answers only with ready pods.
if ! wait_until "$want pods Ready" "$TIMEOUT" pods_ready "$API" "$want"; then
	cli get pods -o wide || true
	warn "not every pod is ready yet; look with: shoal describe pod NAME (the demo is left running)"
fi

echo
cli get nodes
echo
cli get pods -o wide
# The credentials are named by their root-only file, never printed.
use="SHOAL_CONFIG=$CONFIG SHOAL_ADDR=$API"
where="agent1, pid $(<"$DEMO_DIR/agent1.pid"), API on $API"
((AGENTS > 1)) && where="$AGENTS agents in network namespaces shdemo1..shdemo$AGENTS on bridge $HOSTBR, $SUBNET.11-$((10 + AGENTS)), API on port 7948 of each"
if ((AGENTS > 1)); then reach="ip netns exec shdemo1 busybox wget -qO- http://POD_IP:8080/  # from any node"; else reach="curl http://POD_IP:8080/               # pod IPs are reachable from this host"; fi
cat <<EOF

Shoal is running ($where).

  export PATH=\$PWD/bin:\$PATH $use   # as root: the file is root only
  shoal get nodes                        # then, for example:
  shoal get pods -o wide
  $reach
  shoal exec WEBAPP_POD -- wget -qO- http://llm:8000/cgi-bin/completions
  shoal exec db-0 -c db -- cat /data/log # the db's volume
  shoal scale deployment/webapp --replicas 3
  shoal delete pod db-0                  # comes back with its data
  shoal logs WEBAPP_POD

Stop it and remove its agents, pods, namespaces, bridge and data: make demo-down
EOF
