package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"shoal/internal/poll"
)

const fullDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME}
spec:
  replicas: 1
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: IMAGE
        command: ["sh", "-c", "` + idle + `"]
---
apiVersion: v1
kind: Service
metadata: {name: NAME}
spec:
  selector: {app: NAME}
  ports: [{port: 80}]
`

// smallFS mounts a tmpfs of size bytes on a fresh directory, unmounted
// and removed at cleanup (registered now, so it runs after the cleanup of
// an agent started later on it).
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "shoal-full-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, filepath.Base(dir), dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Fatalf("mount a %s tmpfs on %s: %v %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", dir, err)
		}
		os.Remove(dir)
	})
	return dir
}

// fill allocates every free block of dir's filesystem in files under it:
// one big fallocate, then small ones until ENOSPC.
func fill(t *testing.T, dir string) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	big := int64(st.Bavail) * st.Bsize
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("filler-%d", i)))
		if err != nil {
			if errors.Is(err, unix.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
		size := max(big, 4096)
		big = 0
		err = unix.Fallocate(int(f.Fd()), 0, 0, size)
		f.Close()
		if errors.Is(err, unix.ENOSPC) && size == 4096 {
			return
		}
		if err != nil && !errors.Is(err, unix.ENOSPC) {
			t.Fatalf("fallocate %d bytes: %v", size, err)
		}
	}
}

// TestDataDirFull: an agent whose data dir fills up refuses writes (apply,
// scale) with an error naming the data dir and the cause, goes on serving
// reads (get, DNS), shows DiskPressure on its node, and stays up; once
// space is freed, writes work again, the state is intact, and after a
// restart its Raft store (raft-boltdb) opens cleanly and holds it all.
func TestDataDirFull(t *testing.T) {
	image := Image(t)
	mnt := smallFS(t, "256m")
	dataDir := filepath.Join(mnt, "d")
	a := StartAgent(t, Options{DataDir: dataDir, Args: []string{"--disk-check-interval=200ms"}})
	deploy := func(name string) string {
		return manifest(strings.ReplaceAll(fullDeployment, "NAME", name), image)
	}
	a.Apply(t, deploy("before"))
	a.WaitPods(t, 1, Labeled("app", "before"))
	if _, err := os.Stat(filepath.Join(dataDir, "space-ballast")); err != nil {
		t.Errorf("no space ballast in the data dir: %v", err)
	}

	fill(t, mnt)
	wantFull := "the data dir " + dataDir + " is full"
	for _, args := range [][]string{
		{"apply", "-f", "-"},
		{"scale", "deployment", "before", "--replicas", "2"},
	} {
		var stdin []byte
		if args[0] == "apply" {
			stdin = []byte(deploy("during"))
		}
		r := a.RunInput(stdin, args...)
		t.Logf("shoal %s on a full data dir: exit %d: %s", args[0], r.Code, strings.TrimSpace(r.Stderr))
		if r.Code == 0 || !strings.Contains(r.Stderr, wantFull) || !strings.Contains(r.Stderr, "free space and retry") {
			t.Errorf("shoal %s on a full data dir: exit %d, stderr %q; want an error with %q", strings.Join(args, " "), r.Code, r.Stderr, wantFull)
		}
	}
	// Reads go on.
	poll.Until(t, 30*time.Second, "the node showing DiskPressure", func() (bool, string) {
		s := nodeStatus(t, a)
		return strings.Contains(s, "DiskPressure"), s
	})
	if n := len(Select(a.Pods(t), Labeled("app", "before"))); n != 1 {
		t.Errorf("get pods on a full data dir: %d pods of before, want 1", n)
	}
	m := new(dns.Msg)
	m.SetQuestion("before.default.svc.cluster.local.", dns.TypeA)
	if r, err := dns.Exchange(m, a.DNS); err != nil || len(r.Answer) != 1 {
		t.Errorf("DNS for the before Service on a full data dir: %v %v", r, err)
	}
	// Time for Raft's timers and the agent's own writes (status reports)
	// to run into the full disk: the agent must still be up.
	time.Sleep(5 * time.Second)
	if !a.Running() {
		t.Fatalf("the agent exited on a full data dir; its log:\n%s", tail(a.Log, 40))
	}

	if b, err := os.ReadFile(a.Log); err == nil {
		t.Logf("agent log while full: %d lines name the full data dir, %d DiskPressure; last of them:\n%s",
			strings.Count(string(b), "is full"), strings.Count(string(b), "DiskPressure"), lastMatching(string(b), "is full", 3))
	}
	// Space returns: writes work again, the condition clears.
	freeFill(t, mnt)
	poll.Until(t, 30*time.Second, "an apply after space was freed", func() (bool, string) {
		r := a.RunInput([]byte(deploy("after")), "apply", "-f", "-")
		return r.Code == 0, r.Err()
	})
	a.Shoal(t, "scale", "deployment", "before", "--replicas", "2")
	a.WaitPods(t, 2, Labeled("app", "before"))
	a.WaitPods(t, 1, Labeled("app", "after"))
	poll.Until(t, 30*time.Second, "DiskPressure cleared", func() (bool, string) {
		s := nodeStatus(t, a)
		return s == "Ready", s
	})

	// Nothing corrupt: the bolt file passes its consistency check, and the
	// agent restarts on it with every object.
	a.Stop()
	checkBolt(t, filepath.Join(dataDir, "raft", "raft.db"))
	a.Restart()
	a.WaitPods(t, 2, Labeled("app", "before"))
	a.WaitPods(t, 1, Labeled("app", "after"))
	if n := len(Select(a.Pods(t), Labeled("app", "during"))); n != 0 {
		t.Errorf("%d pods of the refused apply after the restart", n)
	}
}

// nodeStatus is the STATUS column of a's own node in `shoal get nodes`.
func nodeStatus(t *testing.T, a *Agent) string {
	for line := range strings.Lines(a.Shoal(t, "get", "nodes")) {
		if f := strings.Fields(line); len(f) > 1 && f[0] == a.Opts.Name {
			return f[1]
		}
	}
	return ""
}

// checkBolt opens a bolt file read-only and runs bolt's consistency check
// over it.
func checkBolt(t *testing.T, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Errorf("bolt check of %s: %v", path, err)
	}
}

// lastMatching returns the last n lines of s that contain sub.
func lastMatching(s, sub string, n int) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "")
}

// TestDataDirFullCluster: in a 3-agent cluster, a follower whose data dir
// fills up only falls behind (the other two commit) and catches up once
// space is freed; a leader whose data dir fills up refuses writes sent to
// any agent with the data-dir error, and takes them again once space is
// freed. No agent exits.
func TestDataDirFullCluster(t *testing.T) {
	var mnts []string
	for range 3 {
		mnts = append(mnts, smallFS(t, "256m"))
	}
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true, Configure: func(i int, o *Options) {
		o.DataDir = filepath.Join(mnts[i], "d")
		o.Args = append(o.Args, "--disk-check-interval=200ms")
	}})
	deploy := func(name string) []byte {
		return []byte(manifest(strings.ReplaceAll(fullDeployment, "NAME", name), c.Image))
	}
	apply := func(i int, name string) Result { return c.Agents[i].RunInput(deploy(name), "apply", "-f", "-") }
	hasDeployment := func(i int, name string) (bool, string) {
		r := c.Agents[i].Run("get", "deployments")
		return r.Code == 0 && strings.Contains(r.Stdout, name), r.Stdout + r.Stderr
	}
	statusOf := func(i, of int) string {
		for line := range strings.Lines(c.Agents[i].Shoal(t, "get", "nodes")) {
			if f := strings.Fields(line); len(f) > 1 && f[0] == c.Agents[of].Opts.Name {
				return f[1]
			}
		}
		return ""
	}
	leader := c.WaitLeader()
	follower, other := (leader+1)%3, (leader+2)%3

	// A follower fills up: the cluster writes on without it.
	fill(t, mnts[follower])
	if r := apply(other, "while-follower-full"); r.Code != 0 {
		t.Fatalf("apply with a follower's data dir full: %s", r.Err())
	}
	poll.Until(t, 30*time.Second, "the full follower showing DiskPressure", func() (bool, string) {
		s := statusOf(leader, follower)
		return strings.Contains(s, "DiskPressure"), s
	})
	freeFill(t, mnts[follower])
	poll.Until(t, time.Minute, "the follower caught up after space was freed", func() (bool, string) {
		return hasDeployment(follower, "while-follower-full")
	})

	// The leader fills up: writes through any agent are refused with the
	// cause; reads are served.
	leader = c.WaitLeader()
	follower = (leader + 1) % 3
	fill(t, mnts[leader])
	want := "the data dir " + c.Agents[leader].Opts.DataDir + " is full"
	for _, i := range []int{leader, follower} {
		r := apply(i, "while-leader-full")
		t.Logf("apply through agent %d with the leader's data dir full: exit %d: %s", i, r.Code, strings.TrimSpace(r.Stderr))
		if r.Code == 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("apply through agent %d with the leader's data dir full: %s; want %q", i, r.Err(), want)
		}
	}
	if ok, out := hasDeployment(leader, "while-follower-full"); !ok {
		t.Errorf("get deployments on the full leader: %s", out)
	}
	freeFill(t, mnts[leader])
	poll.Until(t, time.Minute, "an apply after the leader's space was freed", func() (bool, string) {
		r := apply(follower, "after")
		return r.Code == 0, r.Err()
	})
	for i, a := range c.Agents {
		if !a.Running() {
			t.Errorf("agent %d exited; its log:\n%s", i, tail(a.Log, 40))
		}
		poll.Until(t, time.Minute, fmt.Sprintf("agent %d holding every write", i), func() (bool, string) {
			return hasDeployment(i, "after")
		})
		if ok, out := hasDeployment(i, "while-leader-full"); ok {
			t.Errorf("agent %d lists the refused write: %s", i, out)
		}
	}
}

// freeFill removes what fill allocated under dir.
func freeFill(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "filler-*"))
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}
