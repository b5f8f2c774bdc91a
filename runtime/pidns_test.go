package runtime_test

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/runtime"
	"shoal/runtime/rtapi"
)

// With shareProcessNamespace the pod's containers see each other's
// processes, the pause process is PID 1 and reaps orphans; a container
// restarted after the pause process was replaced joins the new namespace;
// RemovePod stops the pause container last and unmounts the namespace.
func TestShareProcessNamespace(t *testing.T) {
	e := newEnv(t)
	pod := newPod("shared", sh("a", "exec sleep 3600"), sh("b", "exec sleep 3601"))
	pod.Spec.ShareProcessNamespace = true
	sb := e.start(t, pod)
	for _, c := range []string{"a", "b"} {
		e.waitContainer(t, pod.UID, c, 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	}
	pids := func(container string) string {
		t.Helper()
		code, out, errOut := e.exec(t, pod.UID, container, "ps", "-o", "pid,stat,args")
		if code != 0 {
			t.Fatalf("ps: exit %d: %s", code, errOut)
		}
		return out
	}
	ps := pids("a")
	if !strings.Contains(ps, "sleep 3601") || !strings.Contains(ps, "sleep 3600") {
		t.Fatalf("container a does not see b's processes:\n%s", ps)
	}
	if _, init, _ := e.exec(t, pod.UID, "b", "cat", "/proc/1/cmdline"); strings.TrimRight(init, "\x00") != "/pause" {
		t.Fatalf("PID 1 is %q, want /pause", init)
	}
	// An orphan is re-parented to the pause process, which leaves the
	// reaping to the kernel: no zombie stays.
	if code, _, errOut := e.exec(t, pod.UID, "a", "sh", "-c", "sleep 0.2 & exit 0"); code != 0 {
		t.Fatalf("orphan: %s", errOut)
	}
	poll.Until(t, 5*time.Second, "the orphan to be reaped", func() (bool, string) {
		ps := pids("a")
		return !strings.Contains(ps, " Z "), ps
	})
	// Pods without the field keep their own PID namespaces.
	lone := newPod("lone", sh("a", "exec sleep 3602"), sh("b", "exec sleep 3603"))
	e.start(t, lone)
	e.waitContainer(t, lone.UID, "a", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	if _, out, _ := e.exec(t, lone.UID, "a", "ps", "-o", "args"); strings.Contains(out, "3603") {
		t.Errorf("containers of a pod without shareProcessNamespace share processes:\n%s", out)
	}

	// The pause process dies: the kernel kills the namespace's processes,
	// and a restart joins a new namespace with a new pause process.
	ctx := e.nsCtx()
	pause, err := e.rt.Client().LoadContainer(ctx, runtime.ContainerID(pod.UID, "pause.shoal"))
	if err != nil {
		t.Fatal(err)
	}
	task, err := pause.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitContainer(t, pod.UID, "a", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Exited })
	if err := e.rt.StartContainer(context.Background(), pod, sb, pod.Spec.Containers[0], 2); err != nil {
		t.Fatal(err)
	}
	e.waitContainer(t, pod.UID, "a", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	if _, init, _ := e.exec(t, pod.UID, "a", "cat", "/proc/1/cmdline"); strings.TrimRight(init, "\x00") != "/pause" {
		t.Fatalf("after the pause process was replaced, PID 1 is %q", init)
	}

	podState, _, _ := e.container(t, pod.UID, "a")
	for _, c := range podState.Containers {
		if c.Name != "a" && c.Name != "b" {
			t.Errorf("ListPods shows container %q", c.Name)
		}
	}
	if err := e.rt.RemovePod(context.Background(), pod.UID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.Client().LoadContainer(ctx, runtime.ContainerID(pod.UID, "pause.shoal")); !errdefs.IsNotFound(err) {
		t.Errorf("pause container after RemovePod: %v", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(e.cfg.DataDir, "pods", pod.UID, "pidns"), &st); err == nil {
		t.Errorf("pidns still there after RemovePod (fs type %#x)", st.Type)
	}
}

// The pod's resolv.conf follows its dnsPolicy and dnsConfig.
func TestPodDNSConfig(t *testing.T) {
	e := newEnv(t)
	two := "2"
	for _, tc := range []struct {
		name string
		spec func(*cluster.PodSpec)
		want string
	}{
		{"none", func(s *cluster.PodSpec) {
			s.DNSPolicy = cluster.DNSNone
			s.DNSConfig = &cluster.PodDNSConfig{Nameservers: []string{"192.0.2.53"}, Searches: []string{"corp.example"},
				Options: []cluster.PodDNSOption{{Name: "ndots", Value: &two}, {Name: "edns0"}}}
		}, "search corp.example\nnameserver 192.0.2.53\noptions ndots:2 edns0\n"},
		{"cluster-first-plus", func(s *cluster.PodSpec) {
			s.DNSConfig = &cluster.PodDNSConfig{Searches: []string{"corp.example"}, Options: []cluster.PodDNSOption{{Name: "ndots", Value: &two}}}
		}, "search default.svc.cluster.local svc.cluster.local cluster.local example.org corp.example\nnameserver 10.0.0.10\noptions ndots:2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := newPod(tc.name, sh("c", "exec sleep 3600"))
			tc.spec(&pod.Spec)
			e.start(t, pod)
			e.waitContainer(t, pod.UID, "c", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
			if _, got, _ := e.exec(t, pod.UID, "c", "cat", "/etc/resolv.conf"); got != tc.want {
				t.Errorf("resolv.conf:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
