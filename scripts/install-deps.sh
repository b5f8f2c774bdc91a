#!/usr/bin/env bash
# install-deps.sh: make sure the Debian packages Shoal's tests and demo use
# are installed. As root it installs the missing ones with apt-get; as
# anyone else it prints exactly what is missing and the command that
# installs it, and fails, so `make test` never runs half its suites blind.
#
#   scripts/install-deps.sh            install or report
#   scripts/install-deps.sh --check    only report (exit 1 if something is missing)
set -euo pipefail

# Each package the tests need, with why, so a report says what breaks
# without it.
packages=(
	"containerd:runs the pods (runtime and integration tests start private instances)"
	"runc:the OCI runtime containerd starts containers with"
	"containernetworking-plugins:CNI bridge, host-local, portmap, loopback for pod networks"
	"iproute2:ip netns and veth for pod and test networks"
	"iptables:CNI portmap (hostPort) and masquerading"
	"busybox-static:the static /bin/busybox the tests' OCI image is built from"
	"docker-registry:a registry on loopback that tests and the demo pull from"
	"skopeo:pushes the built OCI image into that registry"
	"dnsutils:dig, to check the DNS server by hand and in scripts"
	"dnsperf:the DNS benchmark"
	"dnsmasq:a reference resolver for the DNS forwarding tests"
)

check_only=0
[[ ${1:-} == --check ]] && check_only=1

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if ! command -v dpkg-query >/dev/null; then
	echo "install-deps: not a Debian system (no dpkg-query); install by hand:" >&2
	for p in "${packages[@]}"; do echo "  ${p%%:*}: ${p#*:}" >&2; done
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	installed "${p%%:*}" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi

names=()
for p in "${missing[@]}"; do names+=("${p%%:*}"); done

if ((check_only)) || [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing Debian packages:" >&2
	for p in "${missing[@]}"; do echo "  ${p%%:*}: ${p#*:}" >&2; done
	echo "install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y ${names[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${names[*]}"
# Packages like containerd, docker-registry and dnsmasq start a system
# service when installed; the tests start their own private instances on
# their own ports and a system one would only take port 53 or 5000 from
# them. policy-rc.d (Debian's documented hook) tells the maintainer scripts
# not to start services; it is removed again afterwards unless it was there.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${names[@]}"
echo "install-deps: done"
