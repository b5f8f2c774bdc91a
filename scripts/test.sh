#!/usr/bin/env bash
# test.sh: the whole test run behind `make test`, step by step. Every step
# runs even when an earlier one failed, so one run shows everything that is
# broken; the closing summary lists each step with its result and time, and
# the exit status is non-zero if any step failed.
#
# Environment:
#   GO              go command (default: go)
#   RACE_TIMEOUT    -timeout for the pure packages (default 10m)
#   SYSTEM_TIMEOUT  -timeout for runtime and integration (default 30m)
#   TESTFLAGS       extra flags for every go test (e.g. -v, -run X)
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
RACE_TIMEOUT=${RACE_TIMEOUT:-10m}
SYSTEM_TIMEOUT=${SYSTEM_TIMEOUT:-30m}
read -r -a testflags <<<"${TESTFLAGS:-}"

# Package trees that exist: the project grows one package at a time, and a
# pattern naming a folder that is not there yet fails go test outright.
existing() {
	local d out=()
	for d in "$@"; do
		[[ -d $d ]] && out+=("./$d/...")
	done
	echo "${out[@]}"
}

# Pure and in-process packages: fast, so they run with the race detector.
read -r -a pure <<<"$(existing cluster manifest scheduler consensus gossip autopilot autoscale dns gpu pki policy seal pullauth metrics chaos sim agent cmd internal)"
# Packages that drive a real containerd (root): no -race (it slows the
# child processes' handling and finds nothing the pure runs don't), one
# package at a time (-p 1) because both start containerd instances and the
# integration agents use the default gossip and Raft ports.
read -r -a system <<<"$(existing runtime integration)"

names=() results=() times=()
failed=0

step() {
	local name=$1 start rc
	shift
	echo
	echo "=== $name: $*"
	start=$SECONDS
	"$@"
	rc=$?
	names+=("$name")
	times+=("$((SECONDS - start))s")
	if ((rc == 0)); then
		results+=("ok")
	else
		results+=("FAIL (exit $rc)")
		failed=1
	fi
	return 0
}

skip() {
	names+=("$1")
	results+=("skipped: $2")
	times+=("-")
	echo
	echo "=== $1: skipped ($2)"
}

step deps scripts/install-deps.sh
step gofmt bash -c 'out=$(gofmt -l .) || exit 1; [[ -z $out ]] || { echo "gofmt would change:"; echo "$out"; exit 1; }'
step vet "$GO" vet ./...
step funcstat "$GO" run ./scripts/funcstat
if command -v staticcheck >/dev/null; then
	step staticcheck staticcheck ./...
elif [[ -x $("$GO" env GOPATH)/bin/staticcheck ]]; then
	step staticcheck "$("$GO" env GOPATH)/bin/staticcheck" ./...
else
	skip staticcheck "not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"
fi
# Every package with tests must be in one of the lists above, or a new
# package's tests would silently never run. bench and scripts hold
# benchmarks and tools, run by `make bench` and the steps above.
untested() {
	local dir listed=" ${pure[*]} ${system[*]} "
	for dir in $("$GO" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./... | sed "s#^$PWD/##" | cut -d/ -f1 | sort -u); do
		case $dir in bench | scripts) continue ;; esac
		[[ $listed == *" ./$dir/... "* ]] || { echo "package tree $dir/ has tests that no step runs: add it to scripts/test.sh"; return 1; }
	done
}
step packages untested
if ((${#pure[@]})); then
	step unit "$GO" test -race -count=1 -timeout "$RACE_TIMEOUT" "${testflags[@]}" "${pure[@]}"
else
	skip unit "no packages yet"
fi
if ((${#system[@]})); then
	if [[ $(id -u) -ne 0 && -z ${CI:-} ]]; then
		# Not a failure on a developer's machine: these need root for
		# containerd, network namespaces and cgroups. In CI they must run.
		skip containerd "needs root (run: sudo make test)"
	else
		step containerd "$GO" test -count=1 -p 1 -timeout "$SYSTEM_TIMEOUT" "${testflags[@]}" "${system[@]}"
	fi
else
	skip containerd "no packages yet"
fi

echo
echo "=== summary"
for i in "${!names[@]}"; do
	printf '  %-12s %-8s %s\n' "${names[$i]}" "${times[$i]}" "${results[$i]}"
done
if ((failed)); then
	echo "make test: FAILED"
	exit 1
fi
echo "make test: ok"
