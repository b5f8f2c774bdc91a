package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"shoal/cluster"
)

func writeFenceRecord(t *testing.T, dataDir, uid string, fence ...string) {
	t.Helper()
	dir := filepath.Join(dataDir, "pods", uid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(sandboxRecord{UID: uid, Namespace: "default", Name: "db-" + uid, Fence: fence})
	if err := os.WriteFile(filepath.Join(dir, sandboxFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFenceCgroups(t *testing.T) {
	r := &Runtime{cfg: Config{Namespace: "shoal"}}
	spec := cluster.PodSpec{InitContainers: []cluster.Container{{Name: "init"}}, Containers: []cluster.Container{{Name: "db"}, {Name: "log"}}}
	tests := []struct {
		owner *cluster.OwnerRef
		want  []string
	}{
		{&cluster.OwnerRef{Kind: cluster.KindStatefulSet, Name: "db"}, []string{"/shoal/0123456789ab-init", "/shoal/0123456789ab-db", "/shoal/0123456789ab-log"}},
		{&cluster.OwnerRef{Kind: cluster.KindDeployment, Name: "web"}, nil},
		{nil, nil},
	}
	for _, tt := range tests {
		pod := &cluster.Pod{UID: "0123456789abcdef", Owner: tt.owner, Spec: spec}
		if got := r.fenceCgroups(pod); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("owner %+v: fence %v, want %v", tt.owner, got, tt.want)
		}
	}
}

// TestKillFencedRefuses: a record naming anything wider than one
// container's cgroup is refused, and the others are still handled.
func TestKillFencedRefuses(t *testing.T) {
	dir := t.TempDir()
	for i, bad := range []string{"/", "/shoal", "/shoal/../..", "shoal/x", "/shoal/x/../y", "/a/b/c"} {
		writeFenceRecord(t, dir, "bad"+strconv.Itoa(i), bad)
	}
	writeFenceRecord(t, dir, "gone", "/shoal-fence-test-none/x")
	pods, err := KillFenced(dir)
	if len(pods) != 0 {
		t.Errorf("killed %v", pods)
	}
	if err == nil {
		t.Fatal("no error for records naming the root and other wide cgroups")
	}
	if n := strings.Count(err.Error(), "expected /<containerd namespace>/<container id>"); n != 6 {
		t.Errorf("%d refusals, want 6: %v", n, err)
	}
	if strings.Contains(err.Error(), "shoal-fence-test-none") {
		t.Errorf("a container whose cgroup is gone is an error: %v", err)
	}
}

// TestKillFenced puts a process and its child in a real cgroup of this
// machine's hierarchy (v1 or v2), as runc would a container's, and kills
// them through a sandbox record, as the fencing watchdog does.
func TestKillFenced(t *testing.T) {
	requireRoot(t, "make cgroups")
	group := fmt.Sprintf("/shoal-fence-test-%d/c%d", os.Getpid(), time.Now().UnixNano()%1e6)
	dirs := cgroupDirsForTest(t, group)

	// It forks only once it is in the cgroup (a line on stdin says so),
	// as a container's init would.
	cmd := exec.Command("sh", "-c", "read go; sleep 600 & exec sleep 600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = in.Write([]byte("go\n"))
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); len(pids) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the child never showed in the cgroup: %v", pids)
		}
		pids, _ = cgroupProcs(dirs[0])
	}

	data := t.TempDir()
	writeFenceRecord(t, data, "db0", group)
	writeFenceRecord(t, data, "web", "/shoal-fence-test-none/x")
	pods, err := KillFenced(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 || pods[0].UID != "db0" || fmt.Sprint(pods[0].Cgroups) != "["+group+"]" {
		t.Fatalf("killed %+v, want db0's %s", pods, group)
	}
	var ws syscall.WaitStatus
	done := make(chan error, 1)
	go func() { _, err := syscall.Wait4(cmd.Process.Pid, &ws, 0, nil); done <- err }()
	select {
	case err := <-done:
		if err != nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the cgroup's process ended with %v (%v), want SIGKILL", ws, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cgroup's process still runs")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left, _ := cgroupProcs(dirs[0])
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v still in the cgroup (the child must die too)", left)
		}
	}
	if st, _ := os.ReadFile(filepath.Join(cgroupRoot, "freezer", group, "freezer.state")); len(st) > 0 && strings.TrimSpace(string(st)) != "THAWED" {
		t.Errorf("the cgroup is left %s", st)
	}
}

// cgroupDirsForTest makes the cgroup group in every hierarchy the kill
// looks in (v2: the one), removed at the end.
func cgroupDirsForTest(t *testing.T, group string) []string {
	var dirs []string
	if isFile(filepath.Join(cgroupRoot, "cgroup.controllers")) {
		dirs = []string{filepath.Join(cgroupRoot, group)}
	} else {
		for _, ctrl := range []string{"freezer", "pids"} {
			if isDir(filepath.Join(cgroupRoot, ctrl)) {
				dirs = append(dirs, filepath.Join(cgroupRoot, ctrl, group))
			}
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no cgroup hierarchy under %s", cgroupRoot)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				err := errors.Join(os.Remove(d), os.Remove(filepath.Dir(d)))
				if err == nil || time.Now().After(deadline) {
					return
				}
			}
		})
	}
	return dirs
}
