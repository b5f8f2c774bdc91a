package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"shoal/internal/poll"
	"shoal/internal/testenv"
	"shoal/runtime"
)

// TestContainerdRestart: a supervised containerd killed with SIGKILL is
// seen to exit, restarts on the same socket, and the runtime's client,
// which was never rebuilt, answers again through it.
func TestContainerdRestart(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "containerd")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cd, err := runtime.StartContainerd(ctx, filepath.Join(dir, "containerd"), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cd.Stop() })
	rt, err := runtime.New(ctx, runtime.Config{
		Address: cd.Address(), Namespace: "restart-test", DataDir: dir,
		NetNSDir: filepath.Join(dir, "netns"), CNI: runtime.CNIConfig{PodCIDR: "10.99.0.0/24"},
		Logger: testenv.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	healthy := func() error {
		hctx, c := context.WithTimeout(ctx, 3*time.Second)
		defer c()
		return rt.Healthy(hctx)
	}
	if err := healthy(); err != nil {
		t.Fatalf("healthy: %v", err)
	}

	if _, err := cd.Restart(ctx); err == nil {
		t.Fatal("restart of a running containerd succeeded")
	}
	if err := syscall.Kill(cd.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cd.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("Exited not closed after SIGKILL")
	}
	if err := healthy(); err == nil {
		t.Fatal("healthy with containerd dead")
	}
	if _, err := os.Stat(cd.Address()); err != nil {
		t.Logf("socket after the kill: %v", err)
	}

	start := time.Now()
	cd2, err := cd.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cd2.Stop() })
	if cd2.Address() != cd.Address() || cd2.Pid() == cd.Pid() {
		t.Fatalf("restarted at %s pid %d; was %s pid %d", cd2.Address(), cd2.Pid(), cd.Address(), cd.Pid())
	}
	rt.Reconnect()
	poll.Until(t, 15*time.Second, "the runtime answers through the restarted containerd", func() (bool, string) {
		if err := healthy(); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	t.Logf("restarted and answering after %s", time.Since(start).Round(time.Millisecond))

	// A hung containerd: calls time out.
	if err := syscall.Kill(cd2.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// SIGSTOP takes each thread as it next enters the kernel: wait until
	// every one is stopped, or a thread still running could answer.
	poll.Until(t, 10*time.Second, "every containerd thread stopped", func() (bool, string) {
		return allThreadsStopped(cd2.Pid())
	})
	err = healthy()
	_ = syscall.Kill(cd2.Pid(), syscall.SIGCONT)
	if err == nil {
		t.Fatal("healthy while containerd is stopped")
	}
	t.Logf("a stopped containerd: %v", err)
	cd2.Kill()
	select {
	case <-cd2.Exited():
	default:
		t.Fatal("Kill returned before containerd exited")
	}
}

// allThreadsStopped reports whether every thread of pid is in state T
// (stopped), from /proc.
func allThreadsStopped(pid int) (bool, string) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, err.Error()
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false, err.Error()
		}
		// The state follows the command name, which is in parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		if f := strings.Fields(rest); len(f) == 0 || f[0] != "T" {
			return false, "thread " + task.Name() + " state " + strings.Join(f[:min(1, len(f))], "")
		}
	}
	return true, ""
}
