#!/usr/bin/env bash
# bench-dns.sh: Shoal's DNS server beside dnsmasq, on loopback, in one run.
# dns/bench/cmd/dnsbench loads a synthetic cluster (SERVICES services of
# PODS pods, half with a virtual IP, half headless) into the real dns.Server,
# starts dnsmasq answering the same names from a hosts file generated from
# the same cluster, and runs dnsperf against each in turn with the same
# query file: flat out (queries/s) and at RATE queries/s (p99). It prints
# every run, then per round Shoal's queries/s over dnsmasq's, both p99s and
# each server's CPU time per query. The servers alternate, ROUNDS times, so
# load from elsewhere on the machine hurts both alike: compare the ratio
# (and the CPU per query, which that load hardly moves), not the absolute
# queries/s.
#
# dnsbench starts dnsmasq itself and kills it by its PID when done (also on
# Ctrl-C); Shoal's server runs inside dnsbench. Root is not needed (dnsmasq
# and dnsperf use an unprivileged loopback port) but works.
#
# Environment: SERVICES (1000), PODS (3), DURATION (10s), CLIENTS (8,
# dnsperf -c), RATE (20000), ROUNDS (3), DNSBENCH_ARGS (more flags).
set -euo pipefail
cd "$(dirname "$0")/.."

for bin in dnsperf dnsmasq go; do
	command -v "$bin" >/dev/null || { echo "error: $bin not found: run scripts/install-deps.sh" >&2; exit 1; }
done
export CGO_CFLAGS=${CGO_CFLAGS:-"-O2 -g -Wno-deprecated-declarations"}

dir=$(mktemp -d /tmp/shoal-dnsbench.XXXXXX)
pid=
cleanup() {
	local rc=$?
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		# dnsbench stops dnsmasq and dnsperf on SIGTERM before it exits.
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
	exit "$rc"
}
trap cleanup EXIT INT TERM

go build -o "$dir/dnsbench" ./dns/bench/cmd/dnsbench
# shellcheck disable=SC2086 # DNSBENCH_ARGS is a list of flags
"$dir/dnsbench" -services "${SERVICES:-1000}" -pods "${PODS:-3}" -duration "${DURATION:-10s}" \
	-c "${CLIENTS:-8}" -rate "${RATE:-20000}" -rounds "${ROUNDS:-3}" \
	-dnsperf "$(command -v dnsperf)" -dnsmasq "$(command -v dnsmasq)" ${DNSBENCH_ARGS:-} &
pid=$!
wait "$pid"
