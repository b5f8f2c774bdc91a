package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
)

// Idle is the benchmark containers' command: a shell that sleeps and stops
// at once on SIGTERM, the same for ctr and for Shoal.
const Idle = `trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done`

// Env is where the scenario runs: the CLI and agent to talk to, and the
// containerd both Shoal and ctr use.
type Env struct {
	Shoal string // path of the shoal binary
	Addr  string // the agent's API address
	// Containerd is the socket of the containerd the agent uses;
	// AgentNamespace the agent's containerd namespace, CtrNamespace the
	// one the ctr baseline runs in.
	Containerd     string
	AgentNamespace string
	CtrNamespace   string
	Image          string
	// API polls the pods' phases and deletes them: a CLI process per
	// poll would take CPU from the agent it measures.
	API *apiclient.Client
}

// Result is what one run measured.
type Result struct {
	Pods       int
	CtrRun     time.Duration // ctr run -d of every container, one after another
	ShoalApply time.Duration // apply until every pod is Running
}

// Ratio is Shoal's time over ctr's.
func (r Result) Ratio() float64 { return r.ShoalApply.Seconds() / r.CtrRun.Seconds() }

func (e Env) ctr(ctx context.Context, ns string, args ...string) error {
	full := append([]string{"--address", e.Containerd, "--namespace", ns}, args...)
	out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (e Env) shoal(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.Shoal, append([]string{"--addr", e.Addr}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("shoal %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// Prepare pulls the image into both namespaces, so that both sides of the
// comparison start containers from an image already unpacked: the
// benchmark measures starting pods, not the registry.
func (e Env) Prepare(ctx context.Context) error {
	for _, ns := range []string{e.AgentNamespace, e.CtrNamespace} {
		if err := e.ctr(ctx, ns, "images", "pull", "--plain-http", e.Image); err != nil {
			return err
		}
	}
	return nil
}

// CtrRun starts n containers with `ctr run -d`, one after another as a
// user at a shell would, and returns how long that took.
func (e Env) CtrRun(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	for i := range n {
		if err := e.ctr(ctx, e.CtrNamespace, "run", "-d", e.Image, fmt.Sprintf("bench-%d", i), "sh", "-c", Idle); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// CtrCleanup kills and removes the baseline's containers.
func (e Env) CtrCleanup(ctx context.Context, n int) {
	for i := range n {
		id := fmt.Sprintf("bench-%d", i)
		_ = e.ctr(ctx, e.CtrNamespace, "tasks", "kill", "--signal", "SIGKILL", id)
		_ = e.ctr(ctx, e.CtrNamespace, "tasks", "delete", "--force", id)
		_ = e.ctr(ctx, e.CtrNamespace, "containers", "delete", id)
	}
}

// PodsManifest is n bare single-container pods, bench-0 … bench-(n-1).
func PodsManifest(image string, n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata:
  name: bench-%d
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: %s
      imagePullPolicy: IfNotPresent
      command: ["sh", "-c", %q]
`, i, image, Idle)
	}
	return b.Bytes()
}

// ShoalApply applies PodsManifest with the CLI, as a user would, and
// returns the time until all n pods are Running, polling the API every
// 50 ms.
func (e Env) ShoalApply(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	if _, err := e.shoal(ctx, PodsManifest(e.Image, n), "apply", "-f", "-"); err != nil {
		return 0, err
	}
	for {
		running, _, err := e.count(ctx)
		if err != nil {
			return 0, err
		}
		if running >= n {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%d of %d pods Running when giving up: %w", running, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// count returns how many bench pods there are, and how many of them are
// Running.
func (e Env) count(ctx context.Context) (running, all int, err error) {
	l, err := e.API.Pods(ctx, "")
	if err != nil {
		return 0, 0, fmt.Errorf("list pods: %w", err)
	}
	for _, p := range l.Items {
		if !strings.HasPrefix(p.Name, "bench-") {
			continue
		}
		all++
		if p.Status.Phase == "Running" {
			running++
		}
	}
	return running, all, nil
}

// ShoalCleanup deletes the n bench pods and waits until they are gone.
func (e Env) ShoalCleanup(ctx context.Context, n int) error {
	files := []api.File{{Name: "bench.yaml", Data: string(PodsManifest(e.Image, n))}}
	if _, err := e.API.DeleteFiles(ctx, files); err != nil {
		return fmt.Errorf("delete the bench pods: %w", err)
	}
	for {
		_, all, err := e.count(ctx)
		if err != nil {
			return err
		}
		if all == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d bench pods left: %w", all, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RSS returns a process's resident set size in bytes (VmRSS).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
