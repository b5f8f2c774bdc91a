package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"shoal/internal/poll"
)

// TestContainerdHung: the containerd the agent supervises stops answering
// (SIGSTOP: the process lives, every call runs into its deadline). The
// agent's probes time out, the node goes NotReady, the agent kills the
// hung containerd and starts a new one, and the node is Ready again with
// its pod the same one, never restarted: the pod's exec liveness probe,
// whose 1 s deadline runs out before the runtime monitor's, does not count
// an exec containerd never started.
func TestContainerdHung(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(steadyPod, image))
	before := a.WaitPods(t, 1, nil)[0]
	poll.Until(t, time.Minute, "node Ready", func() (bool, string) { s := nodeStatus(t, a); return s == "Ready", s })

	old := a.ContainerdPID()
	if old == 0 {
		t.Fatalf("no containerd child of agent pid %d", a.PID())
	}
	if err := syscall.Kill(old, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Should the agent not kill it, let it go on at the end.
	t.Cleanup(func() { _ = syscall.Kill(old, syscall.SIGCONT) })
	stopped := time.Now()
	poll.Until(t, time.Minute, "node NotReady while containerd is hung", func() (bool, string) {
		s := nodeStatus(t, a)
		return s == "NotReady", s
	})
	notReadyAfter := time.Since(stopped)
	poll.Until(t, 2*time.Minute, "node Ready again", func() (bool, string) {
		s := nodeStatus(t, a)
		return s == "Ready", s
	})
	readyAfter := time.Since(stopped)
	now := a.ContainerdPID()
	t.Logf("containerd pid %d stopped (SIGSTOP) → node NotReady seen after %s → Ready again after %s (new containerd pid %d)",
		old, notReadyAfter.Round(time.Millisecond), readyAfter.Round(time.Millisecond), now)
	if now == 0 || now == old {
		t.Errorf("containerd pid %d after the hang, was %d: the hung one was not replaced", now, old)
	}
	if !a.Running() {
		t.Fatalf("the agent exited; its log:\n%s", tail(a.Log, 40))
	}
	after := a.WaitPods(t, 1, nil)[0]
	if after.UID != before.UID || Restarts(after) != Restarts(before) {
		t.Errorf("pod %s (restarts %d) after the hang, was %s (restarts %d)", after.UID, Restarts(after), before.UID, Restarts(before))
	}
	if out, code := a.Exec(t, "steady", "", "cat", "/tmp/starts"); code != 0 || strings.Count(out, "started") != 1 {
		t.Errorf("exec after the hang: %d %q; want one start", code, out)
	}
}
