// Package cgroup reads the CPU and memory counters of containers (their
// cgroups, v1 or v2) and of the node (/proc) from the files the kernel
// writes: a handful of small reads per container and sample, no call
// through containerd and its shims.
package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Counters is one reading of a cgroup (or of the machine).
type Counters struct {
	// CPUNanos is the CPU time used since the cgroup was created.
	CPUNanos uint64
	// WorkingSet is the memory in use minus the inactive file cache, as
	// the kubelet computes it (what it evicts by, and what kubectl top
	// shows), in bytes.
	WorkingSet int64
}

// Reader reads cgroups under one cgroup filesystem root.
type Reader struct {
	// V2 says the root is the unified hierarchy (cgroup v2).
	V2 bool
	// Root is the cgroup filesystem (/sys/fs/cgroup); on cgroup v1 its
	// cpuacct/ and memory/ hierarchies are read (systemd links
	// cpuacct to cpu,cpuacct where both are mounted together).
	Root fs.FS
}

// Host returns the reader of this machine's cgroups: v2 when
// /sys/fs/cgroup is the unified hierarchy, else v1 (hybrid setups keep
// the controllers on v1).
func Host() *Reader {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return &Reader{V2: err == nil, Root: os.DirFS("/sys/fs/cgroup")}
}

// ErrNotFound is returned for a cgroup that does not exist (a container
// not running, or already gone).
var ErrNotFound = errors.New("cgroup not found")

// Read reads the cgroup at path (as containerd names it: "/<namespace>/<id>").
func (r *Reader) Read(path string) (Counters, error) {
	p := strings.Trim(path, "/")
	if r.V2 {
		return r.readV2(p)
	}
	return r.readV1(p)
}

func (r *Reader) readV2(p string) (Counters, error) {
	var c Counters
	stat, err := r.file(p, "cpu.stat")
	if err != nil {
		return c, err
	}
	usec, err := keyed(stat, "usage_usec")
	if err != nil {
		return c, fmt.Errorf("%s/cpu.stat: %w", p, err)
	}
	c.CPUNanos = usec * 1000
	current, err := r.number(p, "memory.current")
	if err != nil {
		return c, err
	}
	mstat, err := r.file(p, "memory.stat")
	if err != nil {
		return c, err
	}
	inactive, err := keyed(mstat, "inactive_file")
	if err != nil {
		return c, fmt.Errorf("%s/memory.stat: %w", p, err)
	}
	c.WorkingSet = workingSet(current, inactive)
	return c, nil
}

func (r *Reader) readV1(p string) (Counters, error) {
	var c Counters
	cpu, err := r.number(join("cpuacct", p), "cpuacct.usage")
	if err != nil {
		return c, err
	}
	c.CPUNanos = cpu
	usage, err := r.number(join("memory", p), "memory.usage_in_bytes")
	if err != nil {
		return c, err
	}
	mstat, err := r.file(join("memory", p), "memory.stat")
	if err != nil {
		return c, err
	}
	// total_ counts the hierarchy below too, as usage_in_bytes does.
	inactive, err := keyed(mstat, "total_inactive_file")
	if err != nil {
		return c, fmt.Errorf("%s/memory.stat: %w", join("memory", p), err)
	}
	c.WorkingSet = workingSet(usage, inactive)
	return c, nil
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + "/" + b
}

func (r *Reader) file(dir, name string) ([]byte, error) {
	p := name
	if dir != "" {
		p = dir + "/" + name
	}
	b, err := fs.ReadFile(r.Root, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}

func (r *Reader) number(dir, name string) (uint64, error) {
	b, err := r.file(dir, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s/%s: want a number, got %q", dir, name, truncate(b))
	}
	return n, nil
}

// workingSet is usage minus inactive file pages, never below zero (the
// two files are not read atomically).
func workingSet(usage, inactive uint64) int64 {
	if inactive >= usage {
		return 0
	}
	return int64(min(usage-inactive, 1<<62))
}

// keyed finds key in a flat keyed file ("key value" lines: cpu.stat,
// memory.stat, /proc/meminfo without its units).
func keyed(b []byte, key string) (uint64, error) {
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) < 2 || string(bytes.TrimSuffix(f[0], []byte(":"))) != key {
			continue
		}
		n, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: want a number, got %q", key, truncate(f[1]))
		}
		return n, nil
	}
	return 0, fmt.Errorf("no %s line", key)
}

func truncate(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}
