package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"shoal/chaos"
)

// Faults injects the fault suite's faults (package chaos) into a Cluster
// and heals them. Besides the Cluster's own (Kill9, PowerOff, CutLink) it
// adds iptables rules inside an agent's namespace (one-way and bridge
// partitions, packet loss), queueing disciplines on an agent's link, a
// file filling an agent's data dir filesystem, and steps of the machine's
// wall clock. Everything it adds it records, and Heal or HealAll removes
// by name, so a failed test leaves nothing behind.
type Faults struct {
	c *Cluster
	t testing.TB

	mu     sync.Mutex
	rules  []nsRule
	qdiscs []qdisc
	fills  []string
	clock  *clockStep
	netem  *bool // whether the kernel has sch_netem (probed once)
	killed map[int]bool
}

// chaosComment marks every iptables rule the suite adds.
const chaosComment = "shoal-chaos"

// nsRule is an iptables rule in a namespace, by its exact spec (without
// -A/-D).
type nsRule struct {
	ns   string
	spec []string
}

// qdisc is a root queueing discipline on a device, in a namespace or (ns
// "") on the host.
type qdisc struct{ ns, dev string }

// clockStep is a step of the wall clock to undo: the wall time when it
// was made and the monotonic reading then.
type clockStep struct {
	wall time.Time
	mono time.Time
}

// NewFaults returns the injector for c; it heals everything at the end of
// the test (before the cluster's own cleanup, which runs later).
func NewFaults(t testing.TB, c *Cluster) *Faults {
	f := &Faults{c: c, t: t, killed: map[int]bool{}}
	t.Cleanup(f.healQuiet)
	return f
}

// Inject starts the fault a.
func (f *Faults) Inject(a chaos.Action) {
	f.t.Helper()
	c := f.c
	switch a.Kind {
	case chaos.KillLeader, chaos.KillFollower:
		c.Kill9(a.Targets[0])
		f.markKilled(a.Targets...)
	case chaos.PowerOff:
		c.PowerOff(a.Targets[0])
		f.markKilled(a.Targets...)
	case chaos.RestartAll:
		for _, i := range a.Targets {
			c.Kill9(i)
		}
		f.markKilled(a.Targets...)
	case chaos.PartitionMinority, chaos.IsolateLeader:
		for _, i := range a.Targets {
			c.CutLink(i)
		}
	case chaos.OneWay:
		f.drop(a.Targets[0], a.Peers[0])
	case chaos.Bridge:
		for _, x := range a.Targets {
			for _, y := range a.Peers {
				f.drop(x, y)
				f.drop(y, x)
			}
		}
	case chaos.Netem:
		f.degrade(a.Targets[0], a.LossPercent, a.Delay)
	case chaos.DiskFull:
		f.fill(a.Targets[0])
	case chaos.ClockJump:
		f.jumpClock(a.Jump)
	default:
		f.t.Fatalf("inject: unknown fault kind %q", a.Kind)
	}
}

// Heal ends the fault a: links restored, rules, disciplines and fills
// removed, the clock stepped back, stopped agents started again (at once
// for RestartAll, each then waited for).
func (f *Faults) Heal(a chaos.Action) {
	f.t.Helper()
	switch a.Kind {
	case chaos.KillLeader, chaos.KillFollower, chaos.PowerOff, chaos.RestartAll:
		f.restartKilled()
	case chaos.PartitionMinority, chaos.IsolateLeader:
		for _, i := range a.Targets {
			f.c.RestoreLink(i)
		}
	default:
		f.healQuiet()
	}
}

// HealAll ends every fault still in force.
func (f *Faults) HealAll() {
	f.t.Helper()
	f.healQuiet()
	for i := range f.c.Agents {
		f.c.mu.Lock()
		state := f.c.down[i]
		f.c.mu.Unlock()
		if state == "cut" {
			f.c.RestoreLink(i)
		}
	}
	f.restartKilled()
}

func (f *Faults) markKilled(idx ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, i := range idx {
		f.killed[i] = true
	}
}

// restartKilled starts every killed agent at once, then waits for each.
func (f *Faults) restartKilled() {
	f.t.Helper()
	f.mu.Lock()
	var idx []int
	for i := range f.killed {
		idx = append(idx, i)
	}
	f.killed = map[int]bool{}
	f.mu.Unlock()
	for _, i := range idx {
		f.c.mu.Lock()
		state := f.c.down[i]
		f.c.mu.Unlock()
		if state != "" {
			f.c.RestoreLink(i)
		}
		if !f.c.Agents[i].Running() {
			f.c.Agents[i].start()
		}
	}
	for _, i := range idx {
		f.c.Agents[i].WaitReady()
	}
}

// healQuiet removes the rules, disciplines and fills and steps the clock
// back, logging what it could not undo.
func (f *Faults) healQuiet() {
	f.mu.Lock()
	rules, qdiscs, fills, clock := f.rules, f.qdiscs, f.fills, f.clock
	f.rules, f.qdiscs, f.fills, f.clock = nil, nil, nil, nil
	f.mu.Unlock()
	if clock != nil {
		restoreClock(f.t, clock)
	}
	for _, r := range rules {
		if out, err := nsIptables(r.ns, append([]string{"-D"}, r.spec...)...); err != nil && !strings.Contains(out, "does a matching rule exist") {
			f.t.Logf("heal: iptables -D %s in %s: %v: %s", strings.Join(r.spec, " "), r.ns, err, out)
		}
	}
	for _, q := range qdiscs {
		args := []string{"qdisc", "del", "dev", q.dev, "root"}
		if q.ns != "" {
			args = append([]string{"-n", q.ns}, args...)
		}
		_ = exec.Command("tc", args...).Run() // gone with a power-off's new namespace
	}
	for _, p := range fills {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			f.t.Logf("heal: remove %s: %v", p, err)
		}
	}
}

// nsIptables runs iptables inside namespace ns.
func nsIptables(ns string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=" + netnsPath(ns), "--", "iptables", "-w"}, args...)...).CombinedOutput()
	return string(out), err
}

// addRule inserts rule first in the chain of agent i's namespace and
// records it.
func (f *Faults) addRule(i int, spec ...string) {
	f.t.Helper()
	ns := f.c.NS[i].Name
	spec = append(spec, "-m", "comment", "--comment", chaosComment)
	if out, err := nsIptables(ns, append([]string{"-I"}, spec...)...); err != nil {
		f.t.Fatalf("iptables -I %s in %s: %v: %s", strings.Join(spec, " "), ns, err, out)
	}
	f.mu.Lock()
	f.rules = append(f.rules, nsRule{ns: ns, spec: spec})
	f.mu.Unlock()
}

// drop makes agent i drop every packet from agent peer (one way: i still
// sends to peer, and peer receives).
func (f *Faults) drop(i, peer int) {
	f.addRule(i, "INPUT", "-s", f.c.Addr(peer), "-j", "DROP")
}

// degrade makes agent i's link lose and delay packets: netem on both ends
// of its veth where the kernel has it; where it does not (no sch_netem),
// loss by iptables' statistic match on what it receives and sends, and a
// token bucket on both ends, whose queue delays what exceeds its rate.
func (f *Faults) degrade(i, lossPercent int, delay time.Duration) {
	f.t.Helper()
	ns, host := f.c.NS[i].Name, f.c.NS[i].HostVeth
	if f.hasNetem(ns) {
		spec := []string{"netem", "delay", fmt.Sprintf("%dms", delay.Milliseconds()), "loss", fmt.Sprintf("%d%%", lossPercent)}
		f.addQdisc(ns, "eth0", spec...)
		f.addQdisc("", host, spec...)
		return
	}
	p := strconv.FormatFloat(float64(lossPercent)/100, 'f', 2, 64)
	f.addRule(i, "INPUT", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP")
	f.addRule(i, "OUTPUT", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP")
	spec := []string{"tbf", "rate", "2mbit", "burst", "16kb", "latency", fmt.Sprintf("%dms", max(delay.Milliseconds(), 50))}
	f.addQdisc(ns, "eth0", spec...)
	f.addQdisc("", host, spec...)
}

// hasNetem probes once whether a netem discipline can be added.
func (f *Faults) hasNetem(ns string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.netem == nil {
		err := exec.Command("tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").Run()
		ok := err == nil
		if ok {
			_ = exec.Command("tc", "-n", ns, "qdisc", "del", "dev", "lo", "root").Run()
		} else {
			f.t.Logf("faults: the kernel has no netem discipline; packet loss by iptables' statistic match, delay by a token bucket's queue")
		}
		f.netem = &ok
	}
	return *f.netem
}

func (f *Faults) addQdisc(ns, dev string, spec ...string) {
	f.t.Helper()
	args := append([]string{"qdisc", "add", "dev", dev, "root"}, spec...)
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
		f.t.Fatalf("tc %s: %v: %s", strings.Join(args, " "), err, out)
	}
	f.mu.Lock()
	f.qdiscs = append(f.qdiscs, qdisc{ns: ns, dev: dev})
	f.mu.Unlock()
}

// FillName is the file that fills an agent's data dir filesystem.
const FillName = "chaos-fill"

// fill takes all the free space of agent i's data dir filesystem (a
// small tmpfs of the agent's own, see ChaosDataDirs: never the machine's
// disk) with one preallocated file.
func (f *Faults) fill(i int) {
	f.t.Helper()
	dir := f.c.Agents[i].Opts.DataDir
	if !isMountPoint(dir) {
		f.t.Fatalf("disk-full on agent%d: its data dir %s is not a filesystem of its own; refusing to fill the machine's disk", i+1, dir)
	}
	path := filepath.Join(dir, FillName)
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		f.t.Fatalf("disk-full: %v", err)
	}
	defer fh.Close()
	f.mu.Lock()
	f.fills = append(f.fills, path)
	f.mu.Unlock()
	// Twice: the first allocation's own metadata may leave a little free.
	for range 2 {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			f.t.Fatalf("disk-full: statfs %s: %v", dir, err)
		}
		free := int64(st.Bavail) * st.Bsize
		if free <= 0 {
			break
		}
		cur, _ := fh.Seek(0, 2)
		if err := unix.Fallocate(int(fh.Fd()), 0, cur, free); err != nil && err != unix.ENOSPC {
			f.t.Fatalf("disk-full: fallocate %d bytes in %s: %v", free, path, err)
		}
	}
}

// isMountPoint: dir is the root of a mount.
func isMountPoint(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// jumpClock steps the machine's wall clock forward by d: every agent
// shares it, so this is a jump on all nodes at once, which is the case a
// lease on wall clocks would get wrong (see autopilot/lease.go).
func (f *Faults) jumpClock(d time.Duration) {
	f.t.Helper()
	now := time.Now()
	step := &clockStep{wall: now.Round(0), mono: now}
	if err := setWallClock(now.Round(0).Add(d)); err != nil {
		f.t.Fatalf("clock jump: %v", err)
	}
	f.mu.Lock()
	f.clock = step
	f.mu.Unlock()
}

// restoreClock steps the wall clock back to where it would be without the
// jump: the wall time of the jump plus the monotonic time since.
func restoreClock(t testing.TB, s *clockStep) {
	if err := setWallClock(s.wall.Add(time.Since(s.mono))); err != nil {
		t.Errorf("clock jump: stepping the clock back: %v (set it by hand)", err)
	}
}

func setWallClock(at time.Time) error {
	ts := unix.NsecToTimespec(at.UnixNano())
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("clock_settime(CLOCK_REALTIME, %v): %w", at, err)
	}
	return nil
}

// ChaosDataDirs mounts a tmpfs of size bytes per agent as its data dir
// (so a disk-full fault fills only that), named after the test's PID, and
// returns their paths; at the end of the test (after the cluster's own
// cleanup, which stops everything running from them) check runs on each
// dir, then they are unmounted and removed.
func ChaosDataDirs(t testing.TB, n int, size int64, check func(dirs []string)) []string {
	t.Helper()
	var dirs []string
	t.Cleanup(func() {
		if check != nil {
			check(dirs)
		}
		for _, d := range dirs {
			if err := unix.Unmount(d, unix.MNT_DETACH); err != nil {
				t.Logf("cleanup: unmount %s: %v", d, err)
			}
			if err := os.Remove(d); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	for i := range n {
		d := filepath.Join(os.TempDir(), fmt.Sprintf("shoal-cx%d-%d", os.Getpid(), i+1))
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
			os.Remove(d)
			t.Fatalf("mount a tmpfs on %s: %v", d, err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}
