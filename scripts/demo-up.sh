#!/usr/bin/env bash
# demo-up.sh (`make demo`): run examples/ (a webapp, an LLM stand-in, a db
# StatefulSet) on Shoal on this machine, from nothing: install what is
# missing, serve a locally built busybox image from a registry on
# 127.0.0.1:5000, start the agents, apply, wait with visible progress, show
# the result and say how to use and stop it (`make demo-down`).
#
# Today one agent runs on the host's network. The cluster issue makes it
# three, each in its own network namespace on a bridge: start_agent is the
# one place that changes (an `ip netns exec` prefix and its own address),
# and AGENTS says how many.
#
# Environment: DEMO_DIR (default .demo), AGENTS (default 1),
# DEMO_REGISTRY (default 127.0.0.1:5000), DEMO_TIMEOUT (default 240 s),
# DEMO_API (default 127.0.0.1:7948), DEMO_RAFT (default: the agent's),
# DEMO_BRIDGE (default shoal0), DEMO_AGENT_ARGS (more agent flags, e.g.
# "--cluster-cidr 10.123.0.0/16").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DEMO_DIR=$(realpath -m "${DEMO_DIR:-.demo}")
AGENTS=${AGENTS:-1}
REGISTRY=${DEMO_REGISTRY:-127.0.0.1:5000}
TIMEOUT=${DEMO_TIMEOUT:-240}
IMAGE=$REGISTRY/shoal/busybox:1
API=${DEMO_API:-127.0.0.1:7948}
# DEMO_RAFT moves Raft off its default port (7947), e.g. beside an agent
# already running on this machine.
RAFT=${DEMO_RAFT:-}
# The pod bridge the agent creates (its default name, made explicit so
# demo-down can remove it).
BRIDGE=${DEMO_BRIDGE:-shoal0}

need_root "make demo"
((AGENTS == 1)) || die "AGENTS=$AGENTS: more than one agent comes with the cluster issue"
if [[ -f $DEMO_DIR/agent1.pid ]] && kill -0 "$(<"$DEMO_DIR/agent1.pid")" 2>/dev/null; then
	die "a demo is already running (pid $(<"$DEMO_DIR/agent1.pid")); stop it with: make demo-down"
fi
if "$SHOAL" --addr "$API" get nodes >/dev/null 2>&1; then
	die "an agent already answers on $API; stop it, or run with DEMO_API=127.0.0.1:PORT DEMO_RAFT=127.0.0.1:PORT"
fi
mkdir -p "$DEMO_DIR"
echo "$API" >"$DEMO_DIR/api"
echo "$BRIDGE" >"$DEMO_DIR/bridge"

say "checking packages"
scripts/install-deps.sh

if [[ ! -x $SHOAL ]]; then
	say "building $SHOAL"
	make build
fi

registry_up "$DEMO_DIR" "$REGISTRY"
image_push "$DEMO_DIR" "$IMAGE"
# examples/ name 127.0.0.1:5000; another registry address needs them
# rewritten, which a demo should not do behind the user's back.
[[ $REGISTRY == 127.0.0.1:5000 ]] || warn "examples/ pull from 127.0.0.1:5000, not $REGISTRY"

# start_agent I: agent I with its data under DEMO_DIR/agentI. Without
# --containerd the agent supervises its own containerd under the data dir.
# The DNS server answers the host on a high port so it never fights the
# host's resolver for port 53.
start_agent() {
	local i=$1 name=agent$1 extra=()
	[[ -n $RAFT ]] && extra+=(--raft-addr "$RAFT")
	# DEMO_AGENT_ARGS: more agent flags, split on spaces.
	read -r -a more <<<"${DEMO_AGENT_ARGS:-}"
	extra+=("${more[@]}")
	say "starting $name (data in $DEMO_DIR/$name, log in $DEMO_DIR/$name.log)"
	start_bg "$DEMO_DIR/$name.pid" "$DEMO_DIR/$name.log" \
		"$SHOAL" agent --name "$name" --data-dir "$DEMO_DIR/$name" \
		--bind 127.0.0.1 --api-addr "$API" --dns-addr "127.0.0.1:$((10052 + i))" \
		--bridge "$BRIDGE" "${extra[@]}"
}

api_up() {
	"$SHOAL" --addr "$API" get nodes >/dev/null 2>&1 || {
		echo "not answering yet"
		return 1
	}
}

start_agent 1
if ! wait_until "agent1 API on $API" 60 api_up; then
	tail -n 20 "$DEMO_DIR/agent1.log" >&2
	die "agent1 did not come up; see $DEMO_DIR/agent1.log"
fi

say "applying examples/"
"$SHOAL" --addr "$API" apply -f examples/

# The number of pods examples/ ask for: the sum of their replicas.
want=$(grep -h '^  replicas:' examples/*.yaml | awk '{s += $2} END {print s + 0}')
if ! wait_until "$want pods Running" "$TIMEOUT" pods_running "$API" "$want"; then
	"$SHOAL" --addr "$API" get pods -o wide || true
	warn "not every pod runs yet; look with: $SHOAL describe pod NAME (the demo is left running)"
fi

echo
"$SHOAL" --addr "$API" get nodes
echo
"$SHOAL" --addr "$API" get pods -o wide
cat <<EOF

Shoal is running (agent1, pid $(<"$DEMO_DIR/agent1.pid"), API on $API).

  export PATH=\$PWD/bin:\$PATH SHOAL_ADDR=$API   # then, for example:
  shoal get pods -o wide                 # pod IPs are reachable from this host
  curl http://POD_IP:8080/               # a webapp pod (busybox httpd)
  shoal exec WEBAPP_POD -- wget -qO- http://llm:8000/cgi-bin/completions
  shoal exec db-0 -c db -- cat /data/log # the db's volume
  shoal scale deployment/webapp --replicas 3
  shoal delete pod db-0                  # comes back with its data
  shoal logs WEBAPP_POD

Stop it and remove its pods and data: make demo-down
EOF
