package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/internal/poll"
	"shoal/internal/testenv"
	"shoal/runtime/memrt"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// testAgent is one agent run in-process on a memMachine.
type testAgent struct {
	cfg  Config
	rt   *memrt.Runtime
	done chan error
	stop context.CancelFunc
}

func startTestAgent(t *testing.T, name string, join []string, token string) *testAgent {
	t.Helper()
	hp := func() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))) }
	dir := t.TempDir()
	cfg := Config{
		Name: name, DataDir: dir, Bind: "127.0.0.1", Join: join, Token: token,
		APIAddr: hp(), RaftAddr: hp(), GossipAddr: hp(), DNSAddr: hp(),
		GossipProfile: "test", DeadGrace: 2 * time.Second, Lease: 2 * time.Second,
		Logger: testLogger(),
	}
	a := &testAgent{cfg: cfg, rt: memrt.New(dir), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	go func() { a.done <- run(ctx, cfg, &memMachine{rt: a.rt, podDNS: hp()}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-a.done:
			if err != nil {
				t.Errorf("agent %s: %v", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("agent %s did not stop", name)
		}
	})
	return a
}

func testLogger() *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// client uses the admin credentials the agent wrote for its host's root.
func (a *testAgent) client(t *testing.T) *apiclient.Client {
	t.Helper()
	var creds *apiclient.Credentials
	poll.Until(t, 20*time.Second, "the agent's admin.conf", func() (bool, string) {
		var err error
		creds, err = apiclient.LoadCredentials(filepath.Join(a.cfg.DataDir, adminConfFile))
		return err == nil, fmt.Sprint(err)
	})
	conf, err := creds.TLS()
	if err != nil {
		t.Fatal(err)
	}
	return apiclient.NewClient(creds.Server, creds.Token, conf)
}

// joinToken is the join token the first agent wrote.
func (a *testAgent) joinToken(t *testing.T) string {
	t.Helper()
	var b []byte
	poll.Until(t, 20*time.Second, "the agent's join token", func() (bool, string) {
		var err error
		b, err = os.ReadFile(filepath.Join(a.cfg.DataDir, joinTokenFile))
		return err == nil, fmt.Sprint(err)
	})
	return strings.TrimSpace(string(b))
}

// podPhases lists "name=phase" of every pod, as the agent answers them.
func podPhases(t *testing.T, c *apiclient.Client) string {
	t.Helper()
	l, err := c.Pods(context.Background(), "")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name+"@"+p.NodeName+"="+string(p.Status.Phase))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

const twoPods = `apiVersion: v1
kind: Pod
metadata: {name: one}
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  containers: [{name: app, image: busybox:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  containers: [{name: app, image: busybox:1}, {name: side, image: busybox:1}]
`

// TestAgentRunsPods runs a whole agent on a machine held in memory: it
// creates the cluster, leads, registers, gets a pod subnet, and runs the
// pods applied through its API, reporting them Running.
func TestAgentRunsPods(t *testing.T) {
	a := startTestAgent(t, "solo", nil, "")
	c := a.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, []api.File{{Name: "pods.yaml", Data: fmt.Sprintf(twoPods, "solo", "solo")}}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "both pods Running", func() (bool, string) {
		got := podPhases(t, c)
		return got == "one@solo=Running,two@solo=Running", got
	})
	if got, want := a.rt.Running(), []string{"one/app", "two/app", "two/side"}; !slices.Equal(got, want) {
		t.Errorf("runtime runs %v, want %v", got, want)
	}
	n, err := c.Nodes(ctx)
	if err != nil || len(n.Items) != 1 || n.Items[0].Node.PodCIDR == "" {
		t.Fatalf("nodes %+v, %v", n, err)
	}

	// The apply is in the audit log, which only root may read.
	fi, err := os.Stat(filepath.Join(a.cfg.DataDir, "audit", "audit.log"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit log: %v, mode %v", err, fi)
	}
	if b, _ := os.ReadFile(filepath.Join(a.cfg.DataDir, "audit", "audit.log")); !strings.Contains(string(b), `"path":"/v1/apply"`) {
		t.Errorf("audit log lacks the apply: %s", b)
	}

	// Deleted pods leave the runtime.
	if _, err := c.Delete(ctx, "pods", "default", "two"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "pod two removed", func() (bool, string) {
		got := a.rt.Running()
		return slices.Equal(got, []string{"one/app"}), strings.Join(got, ",")
	})
}

// TestAgentJoins runs two agents: the second joins the first with its
// token, becomes a Raft member, registers through the leader and runs the
// pod placed on it, its status forwarded to the leader.
func TestAgentJoins(t *testing.T) {
	a := startTestAgent(t, "a1", nil, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.client(t).WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	b := startTestAgent(t, "a2", []string{a.cfg.APIAddr}, a.joinToken(t))
	c := a.client(t)
	poll.Until(t, 30*time.Second, "a2 registered with a pod subnet", func() (bool, string) {
		n, err := c.Nodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, v := range n.Items {
			if v.Node.PodCIDR != "" && v.Node.Status == cluster.NodeReady {
				got = append(got, v.Node.Name)
			}
		}
		return len(got) == 2, strings.Join(got, ",")
	})
	if _, err := c.Apply(ctx, []api.File{{Name: "pods.yaml", Data: fmt.Sprintf(twoPods, "a1", "a2")}}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "pods Running on their nodes", func() (bool, string) {
		got := podPhases(t, c)
		return got == "one@a1=Running,two@a2=Running", got
	})
	if got := b.rt.Running(); !slices.Equal(got, []string{"two/app", "two/side"}) {
		t.Errorf("a2 runs %v", got)
	}
	// The joined agent answers reads from its own copy of the state, and
	// its routes lead to a1's pod subnet.
	poll.Until(t, 10*time.Second, "a2's state and routes", func() (bool, string) {
		got := podPhases(t, b.client(t))
		routes := len(b.rt.Routes())
		return got == "one@a1=Running,two@a2=Running" && routes == 1, fmt.Sprintf("%s, %d routes", got, routes)
	})
}

// TestAgentStopsOnUndecodableLogEntry: a 2-byte entry written into an
// agent's Raft log (a damaged disk, or a forged append) makes the
// restarted agent stop with a message naming the entry, instead of
// crashing or serving a state that no longer follows the log.
func TestAgentStopsOnUndecodableLogEntry(t *testing.T) {
	hp := func() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))) }
	var cfg Config
	var dir string
	// A free port can be taken by another test between FreePort and the
	// agent's bind: such a first run is tried again on other ports, any
	// other failure of it is reported as it is.
	for attempt := 1; ; attempt++ {
		dir = t.TempDir()
		cfg = Config{
			Name: "solo", DataDir: dir, Bind: "127.0.0.1",
			APIAddr: hp(), RaftAddr: hp(), GossipAddr: hp(),
			GossipProfile: "test", Logger: testLogger(),
		}
		err := runUntilReady(t, cfg, &memMachine{rt: memrt.New(dir), podDNS: hp()})
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			t.Fatalf("first run: %v", err)
		}
	}

	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft", "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var prev raft.Log
	if err := logs.GetLog(last, &prev); err != nil {
		t.Fatal(err)
	}
	bad := &raft.Log{Index: last + 1, Term: prev.Term, Type: raft.LogCommand, Data: []byte{10, 0x01}}
	if err := logs.StoreLog(bad); err != nil {
		t.Fatal(err)
	}
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.APIAddr, cfg.GossipAddr = hp(), hp()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	err = run(ctx2, cfg, &memMachine{rt: memrt.New(dir), podDNS: hp()})
	want := fmt.Sprintf("raft log halted at log entry %d", last+1)
	if err == nil || !errors.Is(err, consensus.ErrHalted) || !strings.Contains(err.Error(), want) || ctx2.Err() != nil {
		t.Fatalf("restart over a corrupt entry: %v; want an error with %q before the deadline", err, want)
	}
	t.Logf("the agent stopped with: %v", err)
}

// runUntilReady runs an agent until it is ready (its Ready hook: API, DNS
// and node reconciler up), then stops it; it returns what run returned. A
// readiness seen on the API alone would stop an agent still starting its
// node reconciler, which then ends with the cancellation as its error.
func runUntilReady(t *testing.T, cfg Config, m machine) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, m) }()
	select {
	case err := <-done:
		return fmt.Errorf("the agent ended before it was ready: %w", err)
	case <-ready:
		cancel()
		return <-done
	case <-time.After(60 * time.Second):
		cancel()
		<-done
		return errors.New("the agent was not ready within 60s")
	}
}
