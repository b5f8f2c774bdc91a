package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/internal/testenv"
	"shoal/internal/testimage"
	"shoal/pullauth"
	"shoal/runtime"
	"shoal/runtime/rtapi"
)

// Two containers of one pod share localhost and an emptyDir: one writes a
// page into the volume, the other serves it, and the first fetches it over
// 127.0.0.1.
func TestPodSharesLocalhostAndEmptyDir(t *testing.T) {
	e := newEnv(t)
	web := sh("web", "httpd -f -p 8080 -h /www")
	web.VolumeMounts = []cluster.VolumeMount{{Name: "shared", MountPath: "/www"}}
	writer := sh("writer", "echo hello-from-writer > /data/index.html; exec sleep 3600")
	writer.VolumeMounts = []cluster.VolumeMount{{Name: "shared", MountPath: "/data"}}
	mem := sh("mem", "exec sleep 3600")
	mem.VolumeMounts = []cluster.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	pod := newPod("pair", web, writer, mem)
	pod.Spec.Volumes = []cluster.Volume{
		{Name: "shared", EmptyDir: &cluster.EmptyDirSource{}},
		{Name: "scratch", EmptyDir: &cluster.EmptyDirSource{Medium: "Memory", SizeLimit: 8 << 20}},
	}
	sb := e.start(t, pod)
	if net.ParseIP(sb.IP) == nil {
		t.Fatalf("sandbox IP %q", sb.IP)
	}
	for _, c := range []string{"web", "writer"} {
		e.waitContainer(t, pod.UID, c, 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	}

	var body string
	poll.Until(t, 10*time.Second, "web to serve writer's page", func() (bool, string) {
		code, out, errOut := e.exec(t, pod.UID, "writer", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html")
		body = out
		return code == 0, fmt.Sprintf("wget exit %d: %s%s", code, out, errOut)
	})
	if strings.TrimSpace(body) != "hello-from-writer" {
		t.Fatalf("web served %q", body)
	}

	// One IP for the pod: both containers see the same eth0 address.
	for _, c := range []string{"web", "writer"} {
		_, out, _ := e.exec(t, pod.UID, c, "ip", "-4", "-o", "addr", "show", "eth0")
		if !strings.Contains(out, sb.IP+"/") {
			t.Errorf("%s: eth0 %q lacks pod IP %s", c, out, sb.IP)
		}
	}
	_, hostname, _ := e.exec(t, pod.UID, "web", "hostname")
	if strings.TrimSpace(hostname) != "pair" {
		t.Errorf("hostname %q, want pair", hostname)
	}
	_, resolv, _ := e.exec(t, pod.UID, "web", "cat", "/etc/resolv.conf")
	if !strings.Contains(resolv, "search default.svc.cluster.local svc.cluster.local cluster.local example.org") ||
		!strings.Contains(resolv, "nameserver 10.0.0.10") {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	_, hosts, _ := e.exec(t, pod.UID, "web", "cat", "/etc/hosts")
	if !strings.Contains(hosts, sb.IP+"\tpair") {
		t.Errorf("hosts:\n%s", hosts)
	}
	// The Memory emptyDir is a tmpfs of the requested size.
	_, mounts, _ := e.exec(t, pod.UID, "mem", "cat", "/proc/mounts")
	if !strings.Contains(mounts, "tmpfs /scratch tmpfs") || !strings.Contains(mounts, "size=8192k") {
		t.Errorf("no 8M tmpfs on /scratch:\n%s", mounts)
	}
}

// An image pushed to a loopback registry is pulled over plain HTTP (every
// blob: nothing was imported before) and run.
func TestPullFromLoopbackRegistry(t *testing.T) {
	e := setupEnv(t, false)
	reg := testenv.Registry(t)
	ref := reg + "/shoal/busybox:test"
	testenv.PushImage(t, testimage.Busybox(t), ref)

	ctx := context.Background()
	if err := e.rt.PullImage(ctx, ref, runtime.PullNever); err == nil {
		t.Fatal("policy Never pulled an absent image")
	}
	begin := time.Now()
	if err := e.rt.PullImage(ctx, ref, runtime.PullAlways); err != nil {
		t.Fatal(err)
	}
	t.Logf("pulled %s in %v", ref, time.Since(begin).Round(time.Millisecond))
	if err := e.rt.PullImage(ctx, ref, runtime.PullNever); err != nil {
		t.Fatalf("after pull, policy Never: %v", err)
	}
	c := sh("main", "echo pulled; exec sleep 3600")
	c.Image = ref
	pod := newPod("pulled", c)
	e.start(t, pod)
	st := e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	if st.Image != "127.0.0.1"+strings.TrimPrefix(ref, "127.0.0.1") {
		t.Errorf("image %q, want %q", st.Image, ref)
	}
}

// From a registry that asks for basic auth: an anonymous pull fails with
// the registry's 401; credentials are tried in order, each failure
// named by its source, until one pulls. Once present, the image is
// present only for the credentials that pulled it.
func TestPullWithCredentials(t *testing.T) {
	e := setupEnv(t, false)
	reg := testenv.Registry(t, testenv.WithBasicAuth("alice", "s3cret"))
	ref := reg + "/private/busybox:1"
	testenv.PushImageAs(t, testimage.Busybox(t), ref, "alice", "s3cret")
	ctx := context.Background()

	err := e.rt.PullImage(ctx, ref, runtime.PullAlways)
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Fatalf("anonymous pull: %v, want the registry's 401 Unauthorized", err)
	}
	t.Logf("anonymous: %v", err)
	wrong := pullauth.Credential{Username: "alice", Password: "wrong", Source: "secret default/stale"}
	err = e.rt.PullImage(ctx, ref, runtime.PullAlways, wrong)
	if err == nil || !strings.Contains(err.Error(), "secret default/stale") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v, want an error naming the source and not the password", err)
	}
	t.Logf("wrong password: %v", err)
	right := pullauth.Credential{Username: "alice", Password: "s3cret", Source: "secret default/regcred"}
	if err := e.rt.PullImage(ctx, ref, runtime.PullAlways, wrong, right); err != nil {
		t.Fatalf("wrong, then right credentials: %v", err)
	}

	// Present now, but only for those who can pull it: anyone else is
	// sent to the registry, which refuses them.
	sameSecretElsewhere := right
	sameSecretElsewhere.Source = "secret other/regcred"
	tests := []struct {
		name    string
		policy  string
		creds   []pullauth.Credential
		wantErr string
	}{
		{"the credential that pulled it", runtime.PullIfNotPresent, []pullauth.Credential{right}, ""},
		{"the same login from another Secret", runtime.PullNever, []pullauth.Credential{sameSecretElsewhere}, ""},
		{"anonymous", runtime.PullIfNotPresent, nil, "401 Unauthorized"},
		{"a wrong password", runtime.PullIfNotPresent, []pullauth.Credential{wrong}, "401 Unauthorized"},
		{"anonymous, policy Never", runtime.PullNever, nil, runtime.ErrImageNotVerified.Error()},
	}
	for _, tt := range tests {
		err := e.rt.PullImage(ctx, ref, tt.policy, tt.creds...)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s, %s: %v, want error %q", tt.name, tt.policy, err, tt.wantErr)
		}
	}
	// A container of a pod that pulled it (re)starts without showing
	// credentials again: the reconciler's pull checked them.
	c := sh("main", "echo private; exec sleep 3600")
	c.Image = ref
	pod := newPod("private", c)
	e.start(t, pod)
	e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
}

// A container over its 32Mi memory limit is OOM-killed, and ListPods and
// Events say so.
func TestMemoryLimitOOMKilled(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := e.rt.Events(ctx)
	c := sh("hog", "head -c 200m /dev/zero | tail")
	c.Limits = cluster.Resources{Memory: 32 << 20}
	pod := newPod("hog", c)
	e.start(t, pod)
	st := e.waitContainer(t, pod.UID, "hog", 30*time.Second, func(c rtapi.ContainerState) bool { return c.Exited })
	if !st.OOMKilled {
		t.Fatalf("container exited without OOMKilled: %+v", st)
	}
	if st.FinishedAt.IsZero() || st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("times: started %v finished %v", st.StartedAt, st.FinishedAt)
	}
	select {
	case ev := <-events:
		if ev.PodUID != pod.UID || ev.Container != "hog" {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Error("no event for the OOM kill")
	}
	// An agent that restarts after the kill (and missed the event) still
	// sees it, from the cgroup's counter.
	rt2 := e2eNew(t, e.cfg)
	pods, err := rt2.ListPods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 || len(pods[0].Containers) != 1 || !pods[0].Containers[0].OOMKilled {
		t.Errorf("after restart: %+v", pods)
	}
}

// CPU and memory limits are visible in the container's own cgroup.
func TestCPULimitInCgroup(t *testing.T) {
	e := newEnv(t)
	c := sh("main", "exec sleep 3600")
	c.Limits = cluster.Resources{MilliCPU: 250, Memory: 64 << 20}
	c.Requests = cluster.Resources{MilliCPU: 100}
	pod := newPod("cpu", c)
	sb := e.start(t, pod)
	e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	// cgroup v2 has cpu.max; v1 has the quota in its own file.
	_, out, _ := e.exec(t, pod.UID, "main", "sh", "-c",
		"cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	if f := strings.Fields(out); len(f) == 0 || f[0] != "25000" {
		t.Errorf("cpu quota %q, want 25000 (per 100000)", out)
	}
	_, out, _ = e.exec(t, pod.UID, "main", "sh", "-c",
		"cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
	if strings.TrimSpace(out) != fmt.Sprint(64<<20) {
		t.Errorf("memory limit %q, want %d", out, 64<<20)
	}

	// In place, as `shoal set resources` does: no restart.
	c.Limits.MilliCPU = 1500
	if err := e.rt.UpdateResources(context.Background(), pod.UID, c); err != nil {
		t.Fatal(err)
	}
	_, out, _ = e.exec(t, pod.UID, "main", "sh", "-c",
		"cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	if f := strings.Fields(out); len(f) == 0 || f[0] != "150000" {
		t.Errorf("cpu quota after update %q, want 150000", out)
	}
	st, err := e.rt.Stats(context.Background(), pod.UID, "main")
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryBytes == 0 || st.Pids == 0 {
		t.Errorf("stats %+v", st)
	}
	_, got, _ := e.container(t, pod.UID, "main")
	if !got.Running || got.Attempt != 1 {
		t.Errorf("after update: %+v", got)
	}
	// What was applied is recorded, for the node's resize status.
	if want := (cluster.AppliedResources{Requests: c.Requests, Limits: c.Limits}); got.Resources == nil || *got.Resources != want {
		t.Errorf("applied resources %+v, want %+v", got.Resources, want)
	}

	// A memory limit below usage is refused, as the kubelet does, and
	// nothing changes. One page: a running container uses more however
	// its usage moves (half the usage read above was not always: the
	// exec'd processes' memory leaves the cgroup when they exit, and CI
	// once saw such a limit applied).
	low := c
	low.Limits.Memory = 4096
	var below *rtapi.ResizeBelowUsageError
	if err := e.rt.UpdateResources(context.Background(), pod.UID, low); !errors.As(err, &below) || below.Limit != low.Limits.Memory {
		t.Fatalf("memory limit below usage: %v", err)
	}
	_, out, _ = e.exec(t, pod.UID, "main", "sh", "-c",
		"cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
	if strings.TrimSpace(out) != fmt.Sprint(64<<20) {
		t.Errorf("memory limit after a refused update %q, want %d", out, 64<<20)
	}

	// A restart with other resources (resizePolicy RestartContainer)
	// recreates the container: its spec holds the limits.
	if err := e.rt.StopContainer(context.Background(), pod.UID, "main", time.Second); err != nil {
		t.Fatal(err)
	}
	c = pod.Spec.Containers[0] // with its image
	c.Limits.Memory = 96 << 20
	if err := e.rt.StartContainer(context.Background(), pod, sb, c, 2); err != nil {
		t.Fatal(err)
	}
	e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	_, out, _ = e.exec(t, pod.UID, "main", "sh", "-c",
		"cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
	if strings.TrimSpace(out) != fmt.Sprint(96<<20) {
		t.Errorf("memory limit after a restart with new resources %q, want %d", out, 96<<20)
	}
	if _, got, _ := e.container(t, pod.UID, "main"); got.Attempt != 2 || got.Resources == nil || got.Resources.Limits.Memory != 96<<20 {
		t.Errorf("after the restart: %+v", got)
	}

	// Resized in place, then restarted (a crash) with the same spec: the
	// new task keeps the resized limits, though the container's spec was
	// made with others.
	c.Limits.MilliCPU = 700
	if err := e.rt.UpdateResources(context.Background(), pod.UID, c); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StopContainer(context.Background(), pod.UID, "main", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StartContainer(context.Background(), pod, sb, c, 3); err != nil {
		t.Fatal(err)
	}
	e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	_, out, _ = e.exec(t, pod.UID, "main", "sh", "-c",
		"cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	if f := strings.Fields(out); len(f) == 0 || f[0] != "70000" {
		t.Errorf("cpu quota after a restart that followed an in-place resize: %q, want 70000", out)
	}
}

// A container that exits is restarted with a new task and a higher
// attempt; its log keeps the output of both runs; events tell of exits.
func TestRestartAfterExit(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := e.rt.Events(ctx)
	pod := newPod("restart", sh("once", "echo ran; exit 3"))
	c := pod.Spec.Containers[0]
	sb := e.start(t, pod)
	st := e.waitContainer(t, pod.UID, "once", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Exited })
	if st.ExitCode != 3 || st.Attempt != 1 || st.OOMKilled {
		t.Fatalf("first run: %+v", st)
	}
	select {
	case ev := <-events:
		if ev != (rtapi.Event{PodUID: pod.UID, Container: "once"}) {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Error("no exit event")
	}
	if err := e.rt.StartContainer(ctx, pod, sb, c, 2); err != nil {
		t.Fatal(err)
	}
	st = e.waitContainer(t, pod.UID, "once", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Exited && c.Attempt == 2 })
	if st.ExitCode != 3 || st.ID != runtime.ContainerID(pod.UID, "once") {
		t.Fatalf("second run: %+v", st)
	}
	var logs bytes.Buffer
	if err := e.rt.Logs(ctx, pod.UID, "once", false, &logs); err != nil {
		t.Fatal(err)
	}
	if logs.String() != "ran\nran\n" {
		t.Errorf("logs %q, want both runs", logs.String())
	}
}

func TestExecExitCodeAndStdio(t *testing.T) {
	e := newEnv(t)
	pod := newPod("exec", sh("main", "exec sleep 3600"))
	e.start(t, pod)
	e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	code, out, errOut := e.exec(t, pod.UID, "main", "sh", "-c", "echo out; echo err >&2; exit 7")
	if code != 7 || out != "out\n" || errOut != "err\n" {
		t.Errorf("exec: code %d stdout %q stderr %q", code, out, errOut)
	}
	var got bytes.Buffer
	res, err := e.rt.Exec(context.Background(), pod.UID, "main", []string{"cat"},
		strings.NewReader("from stdin"), &got, io.Discard)
	if err != nil || res.ExitCode != 0 || got.String() != "from stdin" {
		t.Errorf("exec cat: %v %+v %q", err, res, got.String())
	}
	if _, err := e.rt.Exec(context.Background(), pod.UID, "nope", []string{"true"}, nil, nil, nil); err == nil {
		t.Error("exec in a missing container succeeded")
	}
}

func TestLogsFollow(t *testing.T) {
	e := newEnv(t)
	pod := newPod("logs", sh("main", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.1; done"))
	e.start(t, pod)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- e.rt.Logs(ctx, pod.UID, "main", true, pw); pw.Close() }()
	buf := make([]byte, 0, 4096)
	for !containsLine(string(buf), "line-15") {
		b := make([]byte, 512)
		n, err := pr.Read(b)
		if err != nil {
			t.Fatalf("follow ended early: %v; got %q", err, buf)
		}
		buf = append(buf, b[:n]...)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Errorf("follow returned %v on cancel", err)
	}
	if !strings.HasPrefix(string(buf), "line-0\nline-1\n") {
		t.Errorf("follow output starts %q", buf[:min(len(buf), 40)])
	}
}

// A hostPort is published on the node: reachable from the host at the
// node's address.
func TestHostPortReachableFromHost(t *testing.T) {
	e := newEnv(t)
	hostPort := testenv.FreePort(t)
	c := sh("web", "echo published > /tmp/index.html; exec httpd -f -p 80 -h /tmp")
	c.Ports = []cluster.ContainerPort{{ContainerPort: 80, HostPort: int32(hostPort)}}
	pod := newPod("hostport", c)
	e.start(t, pod)
	ip := hostIP(t)
	url := fmt.Sprintf("http://%s/index.html", net.JoinHostPort(ip, fmt.Sprint(hostPort)))
	hc := &http.Client{Timeout: time.Second}
	poll.Until(t, 15*time.Second, "the host port to answer", func() (bool, string) {
		resp, err := hc.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)) == "published", fmt.Sprintf("%s: %d %q", url, resp.StatusCode, b)
	})
}

// hostIP is the host's first non-loopback IPv4 address.
func hostIP(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || strings.HasPrefix(i.Name, "sht") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	if testenv.CI() {
		t.Fatal("no non-loopback IPv4 address on the host: the hostPort test needs one")
	}
	t.Skip("no non-loopback IPv4 address on the host")
	return ""
}

// RemovePod deletes containers, the network namespace and the pod
// directory, but a StatefulSet claim keeps its data for the next pod.
func TestRemovePodKeepsClaim(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := sh("db", "echo persisted > /data/file; exec sleep 3600")
	c.VolumeMounts = []cluster.VolumeMount{{Name: "data", MountPath: "/data"}}
	pod := newPod("db-0", c)
	pod.Spec.Volumes = []cluster.Volume{{Name: "data", Claim: &cluster.ClaimSource{ClaimName: "data"}}}
	sb := e.start(t, pod)
	e.waitContainer(t, pod.UID, "db", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
	claimFile := filepath.Join(e.cfg.DataDir, "volumes", "default", "data-db-0", "file")
	poll.Until(t, 5*time.Second, "the claim file", func() (bool, string) {
		_, err := os.Stat(claimFile)
		return err == nil, fmt.Sprint(err)
	})

	begin := time.Now()
	if err := e.rt.RemovePod(ctx, pod.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("pod removed in %v", time.Since(begin).Round(time.Millisecond))
	if _, err := os.Stat(sb.NetNSPath); !os.IsNotExist(err) {
		t.Errorf("netns %s still there: %v", sb.NetNSPath, err)
	}
	if _, err := os.Stat(sb.Dir); !os.IsNotExist(err) {
		t.Errorf("pod dir %s still there: %v", sb.Dir, err)
	}
	pods, err := e.rt.ListPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 0 {
		t.Errorf("ListPods after RemovePod: %+v", pods)
	}
	ctrs, err := e.rt.Client().Containers(e.nsCtx())
	if err != nil || len(ctrs) != 0 {
		t.Errorf("containerd still has %d containers (%v)", len(ctrs), err)
	}
	if err := e.rt.RemovePod(ctx, pod.UID, time.Second); err != nil {
		t.Errorf("second RemovePod: %v", err)
	}

	// The replacement pod (same claim, new UID) finds the data.
	next := newPod("db-0", sh("db", "cat /data/file; exec sleep 3600"))
	next.Spec.Containers[0].VolumeMounts = c.VolumeMounts
	next.Spec.Volumes = pod.Spec.Volumes
	e.start(t, next)
	poll.Until(t, 10*time.Second, "the claim's data in the new pod's logs", func() (bool, string) {
		var logs bytes.Buffer
		err := e.rt.Logs(ctx, next.UID, "db", false, &logs)
		return err == nil && logs.String() == "persisted\n", fmt.Sprintf("logs %q %v", logs.String(), err)
	})
}

// A second Runtime on the same namespace and data dir (an agent restart)
// finds the running pods with their IP; sandboxes are idempotent.
func TestAgentRestartAdoptsPods(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pod := newPod("adopt", sh("main", "exec sleep 3600"))
	sb := e.start(t, pod)
	e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })

	rt2 := e2eNew(t, e.cfg)
	pods, err := rt2.ListPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 {
		t.Fatalf("ListPods: %+v", pods)
	}
	p := pods[0]
	if p.UID != pod.UID || p.Name != "adopt" || p.Namespace != "default" || p.Sandbox == nil || p.Sandbox.IP != sb.IP {
		t.Fatalf("adopted pod %+v (sandbox %+v), want IP %s", p, p.Sandbox, sb.IP)
	}
	if len(p.Containers) != 1 || !p.Containers[0].Running || p.Containers[0].Attempt != 1 ||
		p.Containers[0].Generation != runtime.Generation(pod, pod.Spec.Containers[0]) {
		t.Fatalf("containers %+v", p.Containers)
	}
	// One pod's state is what the listing shows of it.
	one, err := rt2.PodState(ctx, pod.UID)
	if err != nil || one == nil || !reflect.DeepEqual(*one, p) {
		t.Fatalf("PodState = %+v, %v; want the listing's %+v", one, err, p)
	}
	if none, err := rt2.PodState(ctx, newUID()); none != nil || err != nil {
		t.Fatalf("PodState of an unknown pod = %+v, %v; want nil, nil", none, err)
	}
	sb2, err := rt2.EnsureSandbox(ctx, pod)
	if err != nil || *sb2 != *sb {
		t.Fatalf("EnsureSandbox again: %+v %v, want %+v", sb2, err, sb)
	}
	// Starting a running container of the same generation is a no-op.
	if err := rt2.StartContainer(ctx, pod, sb2, pod.Spec.Containers[0], 2); err != nil {
		t.Fatal(err)
	}
	if _, c, _ := e.container(t, pod.UID, "main"); c.Attempt != 1 || !c.Running {
		t.Errorf("after no-op start: %+v", c)
	}
	if err := rt2.StopContainer(ctx, pod.UID, "main", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, c, _ := e.container(t, pod.UID, "main"); !c.Exited || c.ExitCode != 137 {
		t.Errorf("after stop: %+v", c)
	}
	if one, err := rt2.PodState(ctx, pod.UID); err != nil || one == nil || len(one.Containers) != 1 || !one.Containers[0].Exited || one.Containers[0].ExitCode != 137 {
		t.Errorf("PodState after stop = %+v, %v", one, err)
	}
}

// hostPath (with its type), subPath and readOnly mounts.
func TestHostPathSubPathReadOnly(t *testing.T) {
	e := newEnv(t)
	host := filepath.Join(t.TempDir(), "made", "here")
	c := sh("main", "echo sub > /sub/f; echo ro > /ro/f || echo ro-refused; ls /host >/dev/null && echo host-ok; exec sleep 3600")
	c.VolumeMounts = []cluster.VolumeMount{
		{Name: "host", MountPath: "/host"},
		{Name: "scratch", MountPath: "/sub", SubPath: "a/b"},
		{Name: "scratch", MountPath: "/ro", ReadOnly: true},
	}
	pod := newPod("vols", c)
	pod.Spec.Volumes = []cluster.Volume{
		{Name: "host", HostPath: &cluster.HostPathSource{Path: host, Type: "DirectoryOrCreate"}},
		{Name: "scratch", EmptyDir: &cluster.EmptyDirSource{}},
	}
	sb := e.start(t, pod)
	poll.Until(t, 10*time.Second, "the volume checks in the logs", func() (bool, string) {
		var logs bytes.Buffer
		_ = e.rt.Logs(context.Background(), pod.UID, "main", false, &logs)
		s := logs.String()
		return strings.Contains(s, "ro-refused") && strings.Contains(s, "host-ok"), s
	})
	if b, err := os.ReadFile(filepath.Join(sb.Dir, "volumes", "scratch", "a", "b", "f")); err != nil || string(b) != "sub\n" {
		t.Errorf("subPath file: %q %v", b, err)
	}
	if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
		t.Errorf("DirectoryOrCreate did not create %s: %v", host, err)
	}

	bad := newPod("bad", sh("main", "true"))
	bad.Spec.Volumes = []cluster.Volume{{Name: "h", HostPath: &cluster.HostPathSource{Path: filepath.Join(host, "nope"), Type: "File"}}}
	if _, err := e.rt.EnsureSandbox(context.Background(), bad); !errors.Is(err, runtime.ErrInvalid) {
		t.Errorf("missing hostPath File: %v, want ErrInvalid", err)
	}
}

// A Docker archive (docker save) imports too.
func TestImportDockerArchive(t *testing.T) {
	e := newEnv(t)
	skopeo := testenv.RequireBinary(t, "skopeo")
	archive := filepath.Join(t.TempDir(), "docker.tar")
	out, err := exec.Command(skopeo, "--insecure-policy", "copy", "--quiet",
		"oci-archive:"+testimage.Busybox(t), "docker-archive:"+archive+":example.com/tools/busybox:docker").CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo: %v\n%s", err, out)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := e.rt.ImportImage(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "example.com/tools/busybox:docker") {
		t.Fatalf("imported %v", names)
	}
	c := sh("main", "exec sleep 3600")
	c.Image = "example.com/tools/busybox:docker"
	c.ImagePullPolicy = runtime.PullNever
	pod := newPod("docker", c)
	e.start(t, pod)
	e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running })
}

// StopContainer gives SIGTERM and the grace period: a process that traps
// it exits cleanly and quickly; a stopped container restarts.
func TestStopContainerGraceful(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pod := newPod("stop", sh("main", "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.1; done"))
	sb := e.start(t, pod)
	poll.Until(t, 10*time.Second, "main to start", func() (bool, string) {
		var logs bytes.Buffer
		_ = e.rt.Logs(ctx, pod.UID, "main", false, &logs)
		return strings.Contains(logs.String(), "up"), logs.String()
	})
	begin := time.Now()
	if err := e.rt.StopContainer(ctx, pod.UID, "main", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("graceful stop took %v", d)
	}
	_, c, _ := e.container(t, pod.UID, "main")
	if !c.Exited || c.ExitCode != 0 {
		t.Errorf("after graceful stop: %+v", c)
	}
	if err := e.rt.StopContainer(ctx, pod.UID, "main", time.Second); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
	if err := e.rt.StopContainer(ctx, pod.UID, "missing", time.Second); err != nil {
		t.Errorf("stopping a missing container: %v", err)
	}
	if err := e.rt.StartContainer(ctx, pod, sb, pod.Spec.Containers[0], 2); err != nil {
		t.Fatal(err)
	}
	e.waitContainer(t, pod.UID, "main", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Running && c.Attempt == 2 })
	if err := e.rt.Logs(ctx, "no-such-pod", "main", false, io.Discard); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("logs of a missing pod: %v", err)
	}
}
