package consensus

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"shoal/cluster"
	"shoal/internal/poll"
)

// waitTimeout bounds every poll.Until here: elections and commits take
// milliseconds with testConfig's timers, so this only ends a stuck test.
const waitTimeout = 10 * time.Second

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a member's config with fast timings and the test logger; fn
// adjusts it further.
func testConfig(t testing.TB, id string, fn func(*Config)) Config {
	cfg := Config{NodeID: id, Logger: testLogger(t).With("node", id)}
	FastTimings(&cfg)
	if fn != nil {
		fn(&cfg)
	}
	return cfg
}

// testCluster is n in-process Raft members on the in-memory transport.
type testCluster struct {
	stores []*Store
}

func newTestCluster(t testing.TB, n int, fn func(*Config)) *testCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stores, err := OpenInmem(ctx, n, func(i int, cfg *Config) {
		cfg.Logger = testLogger(t).With("node", cfg.NodeID)
		if fn != nil {
			fn(cfg)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		t.Cleanup(func() { _ = s.Close() })
	}
	return &testCluster{stores: stores}
}

func (c *testCluster) leader(t testing.TB) *Store {
	t.Helper()
	var l *Store
	poll.Until(t, waitTimeout, "a leader", poll.Bool(func() bool {
		for _, s := range c.stores {
			if s.IsLeader() {
				l = s
				return true
			}
		}
		return false
	}))
	return l
}

// mustApply applies commands and fails on a transport error or any
// domain error.
func mustApply(t testing.TB, s *Store, cmds ...Command) []Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := s.Apply(ctx, cmds...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("command %d (%s): %v", i, cmds[i].Type(), r.Err)
		}
	}
	return rs
}

// fsmHarness applies commands straight to an FSM, one log entry per call,
// as raft would, without raft.
type fsmHarness struct {
	t     testing.TB
	f     *fsm
	index uint64
}

func newHarness(t testing.TB) *fsmHarness {
	return &fsmHarness{t: t, f: newFSM(testLogger(t))}
}

func (h *fsmHarness) apply(cmds ...Command) []Result {
	h.t.Helper()
	var raw [][]byte
	for _, c := range cmds {
		b, err := encodeCommand(c)
		if err != nil {
			h.t.Fatal(err)
		}
		raw = append(raw, b)
	}
	return h.applyRaw(encodeBatch(raw))
}

func (h *fsmHarness) applyRaw(data []byte) []Result {
	h.index++
	resp := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogCommand, Data: data})
	switch r := resp.(type) {
	case []Result:
		return r
	case Result:
		return []Result{r}
	}
	h.t.Fatalf("unexpected response %T", resp)
	return nil
}

// must applies one command and fails on a domain error.
func (h *fsmHarness) must(c Command) Result {
	h.t.Helper()
	r := h.apply(c)[0]
	if r.Err != nil {
		h.t.Fatalf("%s: %v", c.Type(), r.Err)
	}
	return r
}

func (h *fsmHarness) state() *cluster.State { return h.f.state.Load() }

func (h *fsmHarness) pod(name string) *cluster.Pod {
	h.t.Helper()
	p, ok := h.state().Pod("default", name)
	if !ok {
		h.t.Fatalf("pod %s missing", name)
	}
	return p
}

// Fixtures.

func testNode(name string, cpu, mem int64, gpus ...string) *cluster.Node {
	n := &cluster.Node{
		Name:        name,
		Address:     "192.0.2.1",
		Capacity:    cluster.Resources{MilliCPU: cpu, Memory: mem, GPU: int64(len(gpus))},
		Allocatable: cluster.Resources{MilliCPU: cpu, Memory: mem, GPU: int64(len(gpus))},
		Status:      cluster.NodeReady,
	}
	for i, g := range gpus {
		n.GPUs = append(n.GPUs, cluster.GPU{Index: i, UUID: g})
	}
	return n
}

func testPod(name string, cpu, mem, gpu int64) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: name, UID: "uid-" + name, Ordinal: -1,
		Labels: map[string]string{"app": "web"},
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "c", Image: "nginx",
			Requests: cluster.Resources{MilliCPU: cpu, Memory: mem, GPU: gpu},
		}}},
		Status:    cluster.PodStatus{Phase: cluster.PodPending},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func testWorkload(name string, replicas int32, image string) *cluster.Workload {
	return &cluster.Workload{
		Kind: cluster.KindDeployment, Namespace: "default", Name: name, UID: "wl-" + name,
		Replicas: replicas, Selector: map[string]string{"app": name},
		TemplateLabels: map[string]string{"app": name},
		Template:       cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: image}}},
	}
}
