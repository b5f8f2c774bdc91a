package runtime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/internal/testenv"
	"shoal/internal/testimage"
	"shoal/runtime"
	"shoal/runtime/rtapi"
)

// env is one node's runtime on a private containerd, with the busybox test
// image imported.
type env struct {
	rt  *runtime.Runtime
	cfg runtime.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return setupEnv(t, true)
}

// setupEnv is newEnv, importing the test image only if asked.
func setupEnv(t *testing.T, importImage bool) *env {
	t.Helper()
	testenv.RequireRoot(t)
	archive := testimage.Busybox(t)
	addr := testenv.Containerd(t)
	dir := t.TempDir()
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(func() { testenv.UnmountUnder(t, dir) })
	cfg := runtime.Config{
		Address:   addr,
		Namespace: "test",
		DataDir:   dir,
		NetNSDir:  filepath.Join(dir, "netns"),
		CNI: runtime.CNIConfig{
			BridgeName: testenv.Bridge(t),
			PodCIDR:    testenv.PodCIDR(t),
		},
		DNS:    runtime.DNSConfig{Nameserver: "10.0.0.10", SearchDomains: []string{"example.org"}},
		Logger: testenv.Logger(t),
	}
	e := &env{cfg: cfg, rt: e2eNew(t, cfg)}
	// Remove every pod before the bridge and containerd go: CNI DEL is
	// what deletes the pods' iptables rules and IP allocations.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pods, err := e.rt.ListPods(ctx)
		if err != nil {
			t.Logf("cleanup: %v", err)
		}
		for _, p := range pods {
			if err := e.rt.RemovePod(ctx, p.UID, 0); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	if !importImage {
		return e
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
	if !slices.Contains(names, testimage.Ref) {
		t.Fatalf("imported %v, want %s among them", names, testimage.Ref)
	}
	return e
}

// e2eNew opens a Runtime closed at cleanup.
func e2eNew(t *testing.T, cfg runtime.Config) *runtime.Runtime {
	t.Helper()
	rt, err := runtime.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func newUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newPod(name string, containers ...cluster.Container) *cluster.Pod {
	for i := range containers {
		if containers[i].Image == "" {
			containers[i].Image = testimage.Ref
		}
	}
	return &cluster.Pod{
		Namespace: "default",
		Name:      name,
		UID:       newUID(),
		Ordinal:   -1,
		Spec: cluster.PodSpec{
			Containers:                    containers,
			TerminationGracePeriodSeconds: 1,
		},
	}
}

func sh(name, script string) cluster.Container {
	return cluster.Container{Name: name, Command: []string{"sh", "-c", script}}
}

// start creates the pod's sandbox and starts all its containers (attempt 1).
func (e *env) start(t *testing.T, pod *cluster.Pod) *rtapi.PodSandbox {
	t.Helper()
	ctx := context.Background()
	begin := time.Now()
	sb, err := e.rt.EnsureSandbox(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	sbTime := time.Since(begin)
	for _, c := range pod.Spec.Containers {
		if err := e.rt.StartContainer(ctx, pod, sb, c, 1); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("pod %s started in %v (sandbox %v), IP %s", pod.Name, time.Since(begin).Round(time.Millisecond), sbTime.Round(time.Millisecond), sb.IP)
	return sb
}

// container returns the state of one container of a pod from ListPods.
func (e *env) container(t *testing.T, uid, name string) (rtapi.PodState, rtapi.ContainerState, bool) {
	t.Helper()
	pods, err := e.rt.ListPods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.UID != uid {
			continue
		}
		for _, c := range p.Containers {
			if c.Name == name {
				return p, c, true
			}
		}
		return p, rtapi.ContainerState{}, false
	}
	return rtapi.PodState{}, rtapi.ContainerState{}, false
}

// waitContainer polls ListPods until cond holds for the container.
func (e *env) waitContainer(t *testing.T, uid, name string, timeout time.Duration, cond func(rtapi.ContainerState) bool) rtapi.ContainerState {
	t.Helper()
	var last rtapi.ContainerState
	poll.Until(t, timeout, "container "+name, func() (bool, string) {
		_, c, ok := e.container(t, uid, name)
		last = c
		return ok && cond(c), fmt.Sprintf("container %s: %+v", name, c)
	})
	return last
}

// exec runs cmd in a container and returns its exit code and output.
func (e *env) exec(t *testing.T, uid, container string, cmd ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	res, err := e.rt.Exec(ctx, uid, container, cmd, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	return res.ExitCode, out.String(), errOut.String()
}

func containsLine(s, want string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

func (e *env) nsCtx() context.Context {
	return namespaces.WithNamespace(context.Background(), e.cfg.Namespace)
}
