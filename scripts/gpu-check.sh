#!/usr/bin/env bash
# gpu-check.sh: on a machine with an NVIDIA GPU, show what Shoal's agent
# discovers (index, model, memory, UUID, MIG) and the node labels it reports,
# next to nvidia-smi's own list. Safe anywhere: without a GPU or driver it
# says so and exits 0. Needs no network: set GOFLAGS=-mod=mod or a module
# proxy yourself if the module cache is empty.
#
#   OUT_DIR=/tmp scripts/gpu-check.sh [gpu-check flags, e.g. -inject all]
#
# GPU_CHECK_BIN=path skips the build and runs that binary (built elsewhere
# with the same command). Exit status: non-zero only when the build fails
# or an -inject check fails.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-/tmp}
BIN=${GPU_CHECK_BIN:-}

# Bound every step: a wedged driver can hang NVML and nvidia-smi.
run_bounded() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 60 "$@"
	else
		"$@"
	fi
}

if [[ -z "$BIN" ]]; then
	mkdir -p "$OUT_DIR"
	BIN="$OUT_DIR/gpu-check"
	# go-nvml loads libnvidia-ml through cgo; without cgo the binary would
	# report zero GPUs whatever the machine has.
	if [[ "$(go env CGO_ENABLED)" != 1 ]]; then
		echo "gpu-check: cgo is disabled (CGO_ENABLED=$(go env CGO_ENABLED)); NVML discovery needs it and a C compiler" >&2
		exit 1
	fi
	echo "== building $BIN"
	# GOPROXY=off: fail fast instead of hanging on a machine without network.
	# The NVML header's deprecation warnings are noise here.
	GOPROXY=${GOPROXY:-off} CGO_CFLAGS="${CGO_CFLAGS:--O2 -Wno-deprecated-declarations}" \
		go build -o "$BIN" ./gpu/cmd/gpu-check
fi

echo "== shoal GPU discovery"
rc=0
run_bounded "$BIN" "$@" || rc=$?

echo "== nvidia-smi -L"
if command -v nvidia-smi >/dev/null 2>&1; then
	run_bounded nvidia-smi -L || echo "nvidia-smi failed (exit $?)"
else
	echo "nvidia-smi not installed"
fi
exit "$rc"
