#!/usr/bin/env bash
# install.sh: install the Shoal agent on a Debian 12 server as a systemd
# service. Run as root from the repository (or with SHOAL_BIN pointing at
# the binary):
#
#   deploy/install.sh BIND_ADDR                         first server: creates the cluster
#   deploy/install.sh BIND_ADDR SEED_ADDR TOKEN_FILE    the others: join it
#
# SEED_ADDR is a member's address; the agent joins through its API
# (SEED_ADDR:7948). TOKEN_FILE holds the join token: the first server's is
# in /var/lib/shoal/join-token (root only; `shoal token join` there prints
# it). It pins the cluster's CA, so the joiner sends its secret only to an
# agent of that cluster.
#
# It installs containerd, runc, the CNI plugins, iproute2 and iptables
# (without starting Debian's containerd: the agent supervises its own),
# copies the binary to /usr/local/bin/shoal, writes /etc/default/shoal
# (root only: it holds the join token, which never goes on a command line)
# and the unit, and starts the agent. Every agent writes root's CLI
# credentials to /var/lib/shoal/admin.conf, where `shoal` run by root looks
# for them: root on any member needs no flag.
set -euo pipefail
cd "$(dirname "$0")/.."

bind=${1:?usage: $0 BIND_ADDR [SEED_ADDR TOKEN_FILE]}
seed=${2:-}
token=
if [[ -n ${3:-} ]]; then
	token=$(<"$3")
fi
bin=${SHOAL_BIN:-bin/shoal}
[[ $(id -u) -eq 0 ]] || { echo "install.sh: run as root" >&2; exit 1; }
[[ -x $bin ]] || { echo "install.sh: $bin not found: run 'make build' first (or set SHOAL_BIN)" >&2; exit 1; }
if [[ -n $seed && -z $token ]]; then
	echo "install.sh: joining $seed needs the file holding the join token (/var/lib/shoal/join-token on the first server)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
pkgs=(containerd runc containernetworking-plugins iproute2 iptables)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The agent starts its own containerd under /var/lib/shoal; Debian's would
# only compete with it.
systemctl disable --now containerd.service 2>/dev/null || true

install -m 0755 "$bin" /usr/local/bin/shoal
args=()
[[ -n $seed ]] && args+=(--join "$seed:7948")
umask 077
cat >/etc/default/shoal <<CONF
# Read by shoal-agent.service; root only, since it holds the join token.
SHOAL_BIND=$bind
SHOAL_ARGS="--advertise $bind ${args[*]}"
SHOAL_TOKEN=$token
CONF
chmod 0600 /etc/default/shoal
install -m 0644 deploy/shoal-agent.service /etc/systemd/system/shoal-agent.service
systemctl daemon-reload
systemctl enable --now shoal-agent.service
echo "install.sh: shoal-agent started on $bind${seed:+, joining $seed}"
