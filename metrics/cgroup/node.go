package cgroup

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// userHZ is the unit of /proc/stat's times: USER_HZ is 100 on every Linux
// architecture Shoal runs on (the kernel fixes it for userspace,
// whatever CONFIG_HZ is).
const userHZ = 100

// NodeReader reads the machine's counters from /proc: every process, as
// the kubelet's node figures count (the root cgroup).
type NodeReader struct {
	Proc fs.FS
}

// HostNode reads this machine's /proc.
func HostNode() *NodeReader { return &NodeReader{Proc: os.DirFS("/proc")} }

// Read returns the CPU time every CPU spent outside idle and iowait, and
// the memory in use (MemTotal - MemFree) minus the inactive file cache.
func (n *NodeReader) Read() (Counters, error) {
	var c Counters
	stat, err := fs.ReadFile(n.Proc, "stat")
	if err != nil {
		return c, fmt.Errorf("read /proc/stat: %w", err)
	}
	if c.CPUNanos, err = parseProcStat(stat); err != nil {
		return c, fmt.Errorf("/proc/stat: %w", err)
	}
	mi, err := fs.ReadFile(n.Proc, "meminfo")
	if err != nil {
		return c, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	if c.WorkingSet, err = parseMeminfo(mi); err != nil {
		return c, fmt.Errorf("/proc/meminfo: %w", err)
	}
	return c, nil
}

// parseProcStat sums the busy times of the "cpu" line (user nice system
// idle iowait irq softirq steal guest guest_nice): all but idle and
// iowait; guest time is already inside user and nice.
func parseProcStat(b []byte) (uint64, error) {
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 || string(f[0]) != "cpu" {
			continue
		}
		if len(f) < 5 {
			return 0, fmt.Errorf("cpu line: want at least 4 times, got %d", len(f)-1)
		}
		var busy uint64
		for i, v := range f[1:] {
			if i >= 8 {
				break // guest, guest_nice: counted in user, nice
			}
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cpu line field %d: want a number, got %q", i+1, truncate(v))
			}
			if i == 3 || i == 4 {
				continue // idle, iowait
			}
			busy += n
		}
		return busy * (1e9 / userHZ), nil
	}
	return 0, fmt.Errorf("no cpu line")
}

// parseMeminfo computes the node's working set from /proc/meminfo (kB).
func parseMeminfo(b []byte) (int64, error) {
	var vals [3]uint64
	for i, key := range []string{"MemTotal", "MemFree", "Inactive(file)"} {
		v, err := keyed(b, key)
		if err != nil {
			return 0, err
		}
		vals[i] = v
	}
	total, free, inactive := vals[0], vals[1], vals[2]
	if free > total {
		return 0, fmt.Errorf("MemFree %d kB over MemTotal %d kB", free, total)
	}
	return workingSet((total-free)*1024, inactive*1024), nil
}
