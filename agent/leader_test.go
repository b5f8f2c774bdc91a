package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/consensus"
	"shoal/consensus/consensustest"
)

// TestSchedulerUnitConverges runs the leader's scheduling loop on a small
// in-process Raft: it places a Deployment's pods, replaces one deleted
// behind its back (a restricted pass), and then holds still.
func TestSchedulerUnitConverges(t *testing.T) {
	store := consensustest.Cluster(t, 1, nil)[0]
	setupCluster(t, store, 3, 1, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u := &schedulerUnit{store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil)), minInterval: 5 * time.Millisecond, every: 20 * time.Millisecond}
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.run(ctx)
	}()
	waitPlaced(t, store, 4, 10*time.Second)
	var victim *cluster.Pod
	for p := range store.State().Pods() {
		victim = p
		break
	}
	mustApplyCmds(t, store, &consensus.TerminatePods{Pods: []cluster.PodRef{victim.Ref()}})
	// The pod terminates; the kubelet's part (it stopped) is played here.
	waitFor(t, 10*time.Second, func() bool {
		p, ok := store.State().Pod(victim.Namespace, victim.Name)
		return ok && p.Terminating
	})
	p, _ := store.State().Pod(victim.Namespace, victim.Name)
	mustApplyCmds(t, store, &consensus.PodStatus{Node: p.NodeName, Updates: []cluster.PodStatusUpdate{{Ref: p.Ref(), Status: cluster.PodStatus{Stopped: true}}}})
	waitFor(t, 10*time.Second, func() bool {
		_, ok := store.State().Pod(victim.Namespace, victim.Name)
		return !ok && placed(store.State()) == 4
	})
	idx := store.State().Index()
	time.Sleep(200 * time.Millisecond)
	if got := store.State().Index(); got != idx {
		t.Fatalf("an idle cluster kept committing: index %d -> %d", idx, got)
	}
	cancel()
	<-done
}

// TestIdleLeaderCPU measures the process CPU of a leader holding 100,000
// running pods on 5,000 nodes while nothing happens. It is a measurement,
// not a check: SHOAL_IDLE_CPU=60s go test ./agent -run TestIdleLeaderCPU -v
func TestIdleLeaderCPU(t *testing.T) {
	env := os.Getenv("SHOAL_IDLE_CPU")
	if env == "" {
		t.Skip("a measurement: set SHOAL_IDLE_CPU to the idle time to measure (e.g. 60s)")
	}
	idle, err := time.ParseDuration(env)
	if err != nil {
		t.Fatalf("SHOAL_IDLE_CPU=%q: want a duration such as 60s", env)
	}
	store := consensustest.Cluster(t, 1, nil)[0]
	setupCluster(t, store, 5000, 100, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u := &schedulerUnit{store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go u.run(ctx)
	waitPlaced(t, store, 100000, 10*time.Minute)
	time.Sleep(5 * time.Second) // the last plans' follow-up passes
	before, start := cpuTime(t), time.Now()
	idx := store.State().Index()
	time.Sleep(idle)
	used, wall := cpuTime(t)-before, time.Since(start)
	t.Logf("idle leader, 100,000 pods: %v CPU in %v wall (%.2f%% of one core); %d entries committed meanwhile",
		used.Round(time.Millisecond), wall.Round(time.Millisecond), 100*used.Seconds()/wall.Seconds(), store.State().Index()-idx)
}

// setupCluster registers nodes and deployments of replicas pods (100m,
// 128Mi each) on 16-core nodes.
func setupCluster(t *testing.T, store *consensus.Store, nodes, deployments int, replicas int32) {
	t.Helper()
	cmds := []consensus.Command{&consensus.SetConfig{Config: cluster.Config{ClusterCIDR: "10.0.0.0/8", ServiceCIDR: "172.30.0.0/16"}}}
	for i := range nodes {
		r := cluster.Resources{MilliCPU: 16000, Memory: 64 << 30}
		cmds = append(cmds, &consensus.PutNode{Node: &cluster.Node{Name: fmt.Sprintf("node-%04d", i), Status: cluster.NodeReady, Capacity: r, Allocatable: r}})
	}
	for i := range deployments {
		name := fmt.Sprintf("app-%03d", i)
		cmds = append(cmds, &consensus.PutWorkload{Workload: &cluster.Workload{
			Kind: cluster.KindDeployment, Namespace: cluster.DefaultNamespace, Name: name, UID: "uid-" + name, Replicas: replicas,
			Selector: map[string]string{"app": name}, TemplateLabels: map[string]string{"app": name},
			Template: cluster.PodSpec{Containers: []cluster.Container{{Name: "main", Image: "img:1",
				Requests: cluster.Resources{MilliCPU: 100, Memory: 128 << 20}}}},
		}})
	}
	mustApplyCmds(t, store, cmds...)
}

func mustApplyCmds(t *testing.T, store *consensus.Store, cmds ...consensus.Command) {
	t.Helper()
	res, err := store.Apply(context.Background(), cmds...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("command %d (%s): %v", i, cmds[i].Type(), r.Err)
		}
	}
}

func placed(st *cluster.State) int {
	n := 0
	for p := range st.Pods() {
		if p.NodeName != "" && !p.Terminating {
			n++
		}
	}
	return n
}

func waitPlaced(t *testing.T, store *consensus.Store, n int, limit time.Duration) {
	t.Helper()
	waitFor(t, limit, func() bool { return placed(store.State()) == n })
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cpuTime is the user and system CPU this process used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
