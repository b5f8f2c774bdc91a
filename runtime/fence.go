package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"shoal/cluster"
)

// A StatefulSet pod's sandbox record lists the cgroups of its containers
// (Fence), so that the fencing watchdog, a process apart from the agent,
// can kill them when the node's lease runs out while the agent is dead:
// it needs neither the agent nor containerd, only the data dir and the
// kernel. The record is written before any container of the pod is
// created, so no container runs that the watchdog would not find.

// fenceCgroups are the cgroups of pod's containers, init containers and
// sidecars included, when the pod is one fencing guards (a StatefulSet
// pod); nil otherwise. The pause container is left alone: it holds the
// pod's namespaces, not its data.
func (r *Runtime) fenceCgroups(pod *cluster.Pod) []string {
	if pod.Owner == nil || pod.Owner.Kind != cluster.KindStatefulSet {
		return nil
	}
	var out []string
	for _, c := range append(append([]cluster.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		out = append(out, r.CgroupPath(pod.UID, c.Name))
	}
	return out
}

// FencedPod is a pod whose containers KillFenced killed.
type FencedPod struct {
	Namespace, Name, UID string
	// Cgroups are the containers' cgroups that held processes.
	Cgroups []string
}

// KillFenced kills with SIGKILL every process in the cgroups that the
// sandbox records under dataDir (an agent's data dir) list for fencing,
// and returns the pods it found running. A cgroup that no longer exists
// is a container already gone. Errors are joined, per pod, and the others
// are still killed: one unreadable record must not spare the rest.
func KillFenced(dataDir string) ([]FencedPod, error) {
	records, err := filepath.Glob(filepath.Join(dataDir, "pods", "*", sandboxFile))
	if err != nil {
		return nil, err
	}
	var out []FencedPod
	var errs []error
	for _, path := range records {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // the pod was removed since the listing
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var rec sandboxRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", path, err))
			continue
		}
		p := FencedPod{Namespace: rec.Namespace, Name: rec.Name, UID: rec.UID}
		for _, cg := range rec.Fence {
			// Only a container's cgroup, as CgroupPath names it: a
			// record that names anything wider is refused, not killed.
			if filepath.Clean(cg) != cg || strings.Count(cg, "/") != 2 || strings.Contains(cg, "..") || !strings.HasPrefix(cg, "/") {
				errs = append(errs, fmt.Errorf("%s: fence cgroup %q: expected /<containerd namespace>/<container id>", path, cg))
				continue
			}
			held, err := killCgroup(cgroupRoot, cg)
			if err != nil {
				errs = append(errs, fmt.Errorf("kill pod %s/%s cgroup %s: %w", rec.Namespace, rec.Name, cg, err))
			}
			if held {
				p.Cgroups = append(p.Cgroups, cg)
			}
		}
		if len(p.Cgroups) > 0 {
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

// cgroupRoot is where the cgroup filesystem is mounted: the unified
// hierarchy itself (v2), or a directory of one hierarchy per controller
// (v1; hybrid setups run containers on v1).
const cgroupRoot = "/sys/fs/cgroup"

// killCgroup kills every process in the cgroup at path (as CgroupPath
// names it, below root) and reports whether it held any. The cgroup is
// frozen first, as runc does, so that no process forks away between the
// listing and the kill; on cgroup v2 the kernel's cgroup.kill (5.14) does
// it all in one step. The listing is repeated until it comes back empty:
// a freeze that did not take (no freezer) may let a child through once.
func killCgroup(root, path string) (held bool, err error) {
	dir, freeze, thaw := cgroupV1Dirs(root, path)
	v2 := isFile(filepath.Join(root, "cgroup.controllers"))
	if v2 {
		dir = filepath.Join(root, path)
		freeze = func() bool { return os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("1"), 0) == nil }
		thaw = func() error { return os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0) }
	}
	if dir == "" {
		return false, nil // no hierarchy has it: the container is gone
	}
	pids, err := cgroupProcs(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(pids) == 0 {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if v2 && os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0) == nil {
		return true, nil
	}
	if freeze() {
		defer func() { err = errors.Join(err, thaw()) }()
	}
	for range 10 {
		var errs []error
		for _, pid := range pids {
			if kerr := syscall.Kill(pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("kill %d: %w", pid, kerr))
			}
		}
		if len(errs) > 0 {
			return true, errors.Join(errs...)
		}
		// Killed but frozen processes stay listed until thawed; those
		// are dead already.
		time.Sleep(10 * time.Millisecond)
		if pids, err = cgroupProcs(dir); err != nil || len(pids) == 0 || frozenV1(dir) {
			return true, nil
		}
	}
	return true, fmt.Errorf("cgroup %s: processes still there after 10 rounds of SIGKILL", dir)
}

// cgroupV1Dirs finds the cgroup on v1: the first controller hierarchy
// that has it ("" when none does), and how to freeze and thaw it when the
// freezer has it. freeze waits (up to a second) until the kernel says
// every task is frozen.
func cgroupV1Dirs(root, path string) (dir string, freeze func() bool, thaw func() error) {
	freeze = func() bool { return false }
	thaw = func() error { return nil }
	for _, ctrl := range []string{"freezer", "pids", "cpu,cpuacct", "cpu", "memory", "systemd"} {
		if d := filepath.Join(root, ctrl, path); isDir(d) {
			dir = d
			break
		}
	}
	fz := filepath.Join(root, "freezer", path)
	if !isDir(fz) {
		return dir, freeze, thaw
	}
	state := filepath.Join(fz, "freezer.state")
	freeze = func() bool {
		if os.WriteFile(state, []byte("FROZEN"), 0) != nil {
			return false
		}
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if frozenV1(fz) {
				return true
			}
		}
		return true // still FREEZING: the repeated listing catches the rest
	}
	thaw = func() error { return os.WriteFile(state, []byte("THAWED"), 0) }
	return dir, freeze, thaw
}

// frozenV1 reports whether dir is a v1 freezer cgroup that is frozen.
func frozenV1(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
	return err == nil && strings.TrimSpace(string(b)) == "FROZEN"
}

// cgroupProcs lists the processes of the cgroup at dir and below.
func cgroupProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("%s: %q: expected a PID", p, f)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	return pids, err
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
