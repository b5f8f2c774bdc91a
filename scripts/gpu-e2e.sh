#!/usr/bin/env bash
# gpu-e2e.sh: on a machine with an NVIDIA GPU and no network, run a real
# Shoal agent and a pod asking for nvidia.com/gpu: 1, and show what the pod
# was given. Everything it needs comes in CARRY (default .gpu-carry):
#   shoal.xz        the agent binary (xz), built here with `make build`
#   busybox.tar     the test image (go run scripts/mkimage.go -o ...)
#   debs/           Debian's containerd, runc, CNI plugins, iproute2 and
#                   iptables with their libraries, unpacked under /opt when
#                   the machine lacks them (apt-get download ...)
# It prints what NVML found (as the agent reports it), the node as
# `get nodes -o wide` and `describe node` show it, and the pod's devices and
# NVIDIA_VISIBLE_DEVICES; then it removes the pod and stops the agent.
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=${CARRY:-.gpu-carry}
WORK=${WORK:-/tmp/shoal-gpu}
mkdir -p "$WORK"

say() { printf '\n== %s\n' "$*"; }

say "nvidia-smi -L"
timeout 60 nvidia-smi -L || echo "nvidia-smi: not available"
ls -l /dev/nvidia* 2>&1 | head

# Tools the agent drives. Unpack Debian's where the machine lacks them.
missing=()
for t in containerd runc ip iptables ip6tables; do command -v "$t" >/dev/null || missing+=("$t"); done
if ((${#missing[@]})); then
	say "unpacking Debian packages for: ${missing[*]}"
	root=/opt/shoal-deps
	mkdir -p "$root"
	for d in "$CARRY"/debs/*.deb; do dpkg-deb -x "$d" "$root" 2>/dev/null || (cd "$root" && ar p "$OLDPWD/$d" data.tar.xz | tar xJ); done
	# The alternatives dpkg would have made: iptables through nft.
	for n in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do ln -sf xtables-nft-multi "$root/usr/sbin/$n"; done
	export PATH="$root/usr/bin:$root/usr/sbin:$root/bin:$root/sbin:$PATH"
	export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
	export XTABLES_LIBDIR="$root/usr/lib/x86_64-linux-gnu/xtables"
	mkdir -p /opt/cni/bin && cp -a "$root"/usr/lib/cni/* /opt/cni/bin/
fi
for t in containerd runc ip iptables; do printf '%-10s %s\n' "$t" "$(command -v "$t" || echo MISSING)"; done

xz -dc "$CARRY/shoal.xz" >"$WORK/shoal" && chmod +x "$WORK/shoal"
S="$WORK/shoal --addr 127.0.0.1:7948"
# The API trusts no client for being local: the CLI reads the agent's
# admin credentials (server, cluster CA, token; root only), and only them.
export SHOAL_CONFIG="$WORK/data/admin.conf"
unset SHOAL_TOKEN SHOAL_TOKEN_FILE

say "starting the agent (log: $WORK/agent.log)"
"$WORK/shoal" agent --name gpu1 --data-dir "$WORK/data" --dns-addr 127.0.0.1:1053 >"$WORK/agent.log" 2>&1 &
agent=$!
cleanup() {
	$S delete pod gpu-probe >/dev/null 2>&1
	$S delete pod plain-probe >/dev/null 2>&1
	for _ in $(seq 30); do $S get pods 2>/dev/null | grep -q probe || break; sleep 1; done
	kill "$agent" 2>/dev/null
	wait "$agent" 2>/dev/null
}
trap cleanup EXIT
for _ in $(seq 60); do $S get nodes >/dev/null 2>&1 && break; sleep 1; done
grep -iE "gpu|nvml" "$WORK/agent.log" | head -5

say "shoal get nodes -o wide"
$S get nodes -o wide
$S get nodes -o json | grep -E '"(nvidia.com/gpu[^"]*)"|"uuid"|"model"|"memoryBytes"' | head -12

say "importing the test image"
$S image import "$CARRY/busybox.tar"

cat >"$WORK/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: plain-probe
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: probe
      image: shoal.local/busybox:test
      imagePullPolicy: Never
      command: ["sh", "-c", "echo plain NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES; ls /dev; trap 'exit 0' TERM; while true; do sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: gpu-probe
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: probe
      image: shoal.local/busybox:test
      imagePullPolicy: Never
      command: ["sh", "-c", "echo NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES; ls -l /dev/ | grep nvidia; trap 'exit 0' TERM; while true; do sleep 1; done"]
      resources:
        limits: {nvidia.com/gpu: 1}
YAML
say "shoal apply -f pod.yaml (nvidia.com/gpu: 1)"
$S apply -f "$WORK/pod.yaml" --wait --timeout 90s
$S get pods -o wide
say "shoal logs plain-probe"
$S logs plain-probe
say "shoal logs gpu-probe"
$S logs gpu-probe
$S describe pod gpu-probe | sed -n '/Containers:/,$p' 
say "shoal describe node gpu1"
$S describe node gpu1
say "agent warnings and errors (each once)"
grep -E 'level=(WARN|ERROR)' "$WORK/agent.log" | sed -E 's/^time=[^ ]+ //; s/pod_uid=[^ ]+ //' | sort -u | head -20
say "containerd log (errors)"
grep -iE 'level=(error|warn)' "$WORK/data/containerd/containerd.log" | tail -n 8
say "runtime environment"
runc --version | head -2
ldd "$(command -v runc)" | grep -i 'not found' || echo "runc: all libraries found"
stat -fc 'cgroup fs: %T' /sys/fs/cgroup
uname -r
