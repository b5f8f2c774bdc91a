// Command gpu-check prints what `shoal agent` would find and report about
// this machine's NVIDIA GPUs: the GPUs NVML discovers, the node's GPU list
// after --capacity, and the node labels. With -inject it also shows the
// OCI spec edits a container assigned those GPUs would get.
//
// It exits 0 whether or not there are GPUs (it says so): it is a report,
// run by scripts/gpu-check.sh on machines with and without GPUs. Only a
// failed -inject exits 1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"shoal/cluster"
	"shoal/gpu"
)

func main() {
	capacity := flag.Int("capacity", -1, "as the agent's --capacity nvidia.com/gpu=N; -1: not given")
	inject := flag.String("inject", "", `GPU IDs to inject into an empty container spec, comma-separated, or "all"`)
	devRoot := flag.String("dev-root", "/dev", "where the nvidia device nodes are")
	cdiDirs := flag.String("cdi-dirs", strings.Join(gpu.DefaultCDIDirs, ","), `CDI spec directories, comma-separated; "" turns CDI off`)
	flag.Parse()

	// The agent logs discovery the same way: one line, on stderr here.
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	discovered := gpu.Discover(context.Background(), logger)

	if len(discovered) == 0 {
		fmt.Println("NVML discovery: no GPUs discovered (the log line above says why)")
	} else {
		fmt.Printf("NVML discovery: %d GPU(s)\n", len(discovered))
		for _, g := range discovered {
			fmt.Printf("  GPU %d: model=%q memory=%d MiB (%d bytes) uuid=%s mig=%t\n",
				g.Index, g.Model, g.MemoryBytes>>20, g.MemoryBytes, g.UUID, g.MIG)
		}
	}

	node := gpu.Merge(discovered, *capacity)
	out, _ := json.Marshal(node)
	if len(node) == 0 {
		out = []byte("[]")
	}
	flagNote := "no --capacity"
	if *capacity >= 0 {
		flagNote = fmt.Sprintf("--capacity %s=%d", gpu.ResourceName, *capacity)
	}
	fmt.Printf("node GPUs (%s): %d %s\n", flagNote, len(node), out)

	labels := gpu.Labels(node)
	if len(labels) == 0 {
		fmt.Println("labels: none")
	} else {
		fmt.Println("labels:")
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			fmt.Printf("  %s=%s\n", k, labels[k])
		}
	}

	if *inject == "" {
		return
	}
	if err := showInjection(node, *inject, *devRoot, *cdiDirs); err != nil {
		fmt.Fprintln(os.Stderr, "inject:", err)
		os.Exit(1)
	}
}

// showInjection applies the GPUs to an empty spec, as the runtime will, and
// prints what it added.
func showInjection(node []cluster.GPU, which, devRoot, cdiDirs string) error {
	var ids []string
	if which == "all" {
		for _, g := range node {
			ids = append(ids, g.ID())
		}
	} else {
		ids = strings.Split(which, ",")
	}
	cfg := gpu.InjectConfig{GPUs: node, DevRoot: devRoot, CDIDirs: []string{}}
	for _, d := range strings.Split(cdiDirs, ",") {
		if d != "" {
			cfg.CDIDirs = append(cfg.CDIDirs, d)
		}
	}
	spec := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
	if err := gpu.Apply(spec, ids, cfg); err != nil {
		return err
	}
	fmt.Printf("injection of %v:\n", ids)
	for _, d := range spec.Linux.Devices {
		fmt.Printf("  device %s %s %d:%d\n", d.Path, d.Type, d.Major, d.Minor)
	}
	if r := spec.Linux.Resources; r != nil {
		for _, c := range r.Devices {
			if c.Major != nil && c.Minor != nil {
				fmt.Printf("  cgroup allow=%t %s %d:%d %s\n", c.Allow, c.Type, *c.Major, *c.Minor, c.Access)
			}
		}
	}
	for _, m := range spec.Mounts {
		fmt.Printf("  mount %s <- %s\n", m.Destination, m.Source)
	}
	for _, e := range spec.Process.Env {
		fmt.Printf("  env %s\n", e)
	}
	for _, h := range hooks(spec) {
		fmt.Printf("  hook %s\n", h)
	}
	return nil
}

// hooks lists the OCI hooks CDI added (nvidia-ctk adds ldconfig and
// symlink hooks).
func hooks(spec *specs.Spec) []string {
	if spec.Hooks == nil {
		return nil
	}
	var out []string
	for _, h := range slices.Concat(spec.Hooks.CreateRuntime, spec.Hooks.CreateContainer, spec.Hooks.StartContainer) {
		out = append(out, strings.Join(h.Args, " "))
	}
	return out
}
