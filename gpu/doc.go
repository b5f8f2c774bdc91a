// Package gpu finds a node's NVIDIA GPUs and hands assigned ones to
// containers.
//
// Discovery asks NVML (through go-nvml, which dlopens libnvidia-ml.so.1 at
// run time) for each GPU's index, UUID, model, memory and MIG mode. A machine
// without the library, without GPUs, or with a wedged driver yields zero GPUs
// and one log line: the agent must start everywhere, GPU or not.
//
// Injection edits a container's OCI spec so that it sees exactly the GPUs the
// leader assigned to its pod: through CDI when `nvidia-ctk cdi generate` has
// written a spec for nvidia.com/gpu, otherwise by adding the /dev/nvidia*
// device nodes with their cgroup rules and the NVIDIA_VISIBLE_DEVICES
// environment that nvidia-container-runtime understands.
//
// go-nvml needs cgo; built without it (CGO_ENABLED=0) Discover reports zero
// GPUs, and GPUs can still be advertised with --capacity nvidia.com/gpu=N.
package gpu
