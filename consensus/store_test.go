package consensus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"shoal/cluster"
	"shoal/internal/poll"
)

func TestThreeVoters(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.leader(t)
	ctx := context.Background()

	servers, err := leader.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("servers %+v, %v", servers, err)
	}
	for _, s := range servers {
		if !s.Voter {
			t.Errorf("%s is not a voter", s.ID)
		}
	}
	select {
	case v := <-leader.LeaderCh():
		if !v {
			t.Error("leader notified false")
		}
	case <-time.After(5 * time.Second):
		t.Error("no leadership notification")
	}

	rs := mustApply(t, leader, &PutNode{Node: testNode("n1", 1000, 1<<30)})
	for _, s := range c.stores {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.WaitForIndex(wctx, rs[0].Index); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, ok := s.State().Node("n1"); !ok {
			t.Errorf("%s: node not visible at index %d", s.cfg.NodeID, s.State().Index())
		}
	}
	if err := leader.Barrier(ctx); err != nil {
		t.Fatal(err)
	}

	for _, s := range c.stores {
		if s == leader {
			continue
		}
		_, err := s.Apply(ctx, &DeleteNode{Name: "n1"})
		var nle *NotLeaderError
		if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nle) || nle.LeaderAddr != leader.LocalAddr() || nle.LeaderID != leader.cfg.NodeID {
			t.Errorf("follower apply: %v", err)
		}
		if err := s.Barrier(ctx); !errors.Is(err, ErrNotLeader) {
			t.Errorf("follower barrier: %v", err)
		}
	}

	// Remove a follower; the other two carry on.
	var gone *Store
	for _, s := range c.stores {
		if s != leader {
			gone = s
			break
		}
	}
	if err := leader.RemoveServer(ctx, gone.cfg.NodeID); err != nil {
		t.Fatal(err)
	}
	if servers, _ := leader.Servers(); len(servers) != 2 {
		t.Fatalf("servers after remove: %+v", servers)
	}
	mustApply(t, leader, &SetNodeStatus{Name: "n1", Status: cluster.NodeNotReady})
	if st := leader.Stats(); st["state"] != "Leader" {
		t.Errorf("stats %v", st)
	}
}

func TestNonvoterReceivesLog(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	addr, tr := raft.NewInmemTransport("mem-nv")
	lt := c.stores[0].cfg.Transport.(*raft.InmemTransport)
	lt.Connect(addr, tr)
	tr.Connect(lt.LocalAddr(), lt)
	nv, err := Open(testConfig(t, "nv", func(cfg *Config) {
		cfg.Transport = tr
		cfg.LogStore, cfg.StableStore, cfg.SnapshotStore = raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nv.Close()
	leader := c.stores[0]
	if err := leader.AddNonvoter(context.Background(), "nv", string(addr)); err != nil {
		t.Fatal(err)
	}
	mustApply(t, leader, &PutNode{Node: &cluster.Node{Name: "n1"}})
	poll.Until(t, waitTimeout, "non-voter to see the node", poll.Bool(func() bool { _, ok := nv.State().Node("n1"); return ok }))
	servers, _ := leader.Servers()
	for _, s := range servers {
		if s.ID == "nv" && s.Voter {
			t.Error("non-voter votes")
		}
	}
}

// statusCmd is a one-pod status report, the kind nodes send all day.
func statusCmd(i int) Command {
	return &PodStatus{Node: "n1", Updates: []cluster.PodStatusUpdate{{
		Ref: cluster.PodRef{Namespace: "default", Name: fmt.Sprintf("p%d", i), UID: "u"}}}}
}

func TestBatchingCoalescesConcurrentApplies(t *testing.T) {
	tests := []struct {
		name        string
		maxCommands int
		wantEntries int
	}{
		{"one entry for 100 callers", 0, 1},
		{"split by MaxBatchCommands", 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			var releaseOnce sync.Once
			open := func() { releaseOnce.Do(func() { close(release) }) }
			var holding atomic.Int32
			c := newTestCluster(t, 3, func(cfg *Config) {
				cfg.MaxBatchCommands = tt.maxCommands
				cfg.beforeCollect = func() { holding.Add(1); <-release }
			})
			t.Cleanup(open) // runs before the stores close, even on failure
			leader := c.leader(t)
			const callers = 100
			indexes := make([]uint64, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					rs, err := leader.Apply(context.Background(), statusCmd(i))
					if err != nil {
						t.Error(err)
						return
					}
					indexes[i] = rs[0].Index
				})
			}
			// The batcher holds the first request; the rest queue behind it.
			poll.Until(t, waitTimeout, "callers to queue", func() (bool, string) {
				held, queued := holding.Load(), len(leader.reqs)
				return held == 1 && queued == callers-1, fmt.Sprintf("%d held, %d queued", held, queued)
			})
			open()
			wg.Wait()
			distinct := map[uint64]bool{}
			for _, idx := range indexes {
				distinct[idx] = true
			}
			if len(distinct) != tt.wantEntries {
				t.Errorf("%d callers used %d log entries, want %d", callers, len(distinct), tt.wantEntries)
			}
		})
	}
}

func TestApplyResultsInOrder(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	rs, err := c.stores[0].Apply(context.Background(),
		&PutNode{Node: &cluster.Node{Name: "n1"}},
		&DeleteWorkload{Kind: cluster.KindStatefulSet, Name: "db"},
		&SetNodeSchedulable{Name: "n1", Schedulable: false},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Err != nil || !errors.Is(rs[1].Err, ErrNotFound) || rs[2].Err != nil || rs[2].Changed != 1 {
		t.Fatalf("results %+v", rs)
	}
	if rs[1].Err.Error() != "statefulset default/db: not found" {
		t.Errorf("error text %q", rs[1].Err)
	}
}

// openDiskStore opens a single-voter store on dir, on an in-memory
// transport (restarts keep the address), with small snapshot thresholds.
func openDiskStore(t testing.TB, dir string) *Store {
	t.Helper()
	_, tr := raft.NewInmemTransport("mem-disk")
	s, err := Open(testConfig(t, "disk", func(cfg *Config) {
		cfg.DataDir = dir
		cfg.Transport = tr
		cfg.Bootstrap = true
		cfg.SnapshotThreshold = 8
		cfg.TrailingLogs = 4
		cfg.SnapshotInterval = 50 * time.Millisecond
	}))
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, waitTimeout, "leadership", poll.Bool(s.IsLeader))
	return s
}

// putNodes applies n PutNode commands, one entry each.
func putNodes(t testing.TB, s *Store, from, to int) uint64 {
	var last uint64
	for i := from; i < to; i++ {
		last = mustApply(t, s, &PutNode{Node: &cluster.Node{Name: fmt.Sprintf("n%03d", i)}})[0].Index
	}
	return last
}

func TestRestartFromDataDir(t *testing.T) {
	dir := t.TempDir()
	s := openDiskStore(t, dir)
	putNodes(t, s, 0, 20)
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	last := putNodes(t, s, 20, 30) // these live in the log only
	before := s.State()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openDiskStore(t, dir)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitForIndex(ctx, last); err != nil {
		t.Fatal(err)
	}
	statesEqual(t, before, s.State())
	if n, _ := s.State().Node("n029"); n.PodCIDR != "10.88.29.0/24" {
		t.Errorf("node %+v", n)
	}
}

// TestKillNineRecovery kills a child process holding the store with
// SIGKILL (no Close, no final snapshot) and recovers its data dir.
func TestKillNineRecovery(t *testing.T) {
	if dir := os.Getenv("SHOAL_CONSENSUS_KILL_CHILD"); dir != "" {
		s := openDiskStore(t, dir)
		putNodes(t, s, 0, 20)
		if err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
		last := putNodes(t, s, 20, 30)
		fmt.Printf("applied %d\n", last)
		select {} // wait for SIGKILL
	}
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillNineRecovery$")
	cmd.Env = append(os.Environ(), "SHOAL_CONSENSUS_KILL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var last uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "applied "); ok {
			last, _ = strconv.ParseUint(v, 10, 64)
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if last == 0 {
		t.Fatal("child did not report its writes")
	}

	s := openDiskStore(t, dir)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitForIndex(ctx, last); err != nil {
		t.Fatal(err)
	}
	if n := s.State().NodeCount(); n != 30 {
		t.Fatalf("%d nodes after recovery, want 30", n)
	}
}

func TestTCPTransport(t *testing.T) {
	s, err := Open(testConfig(t, "tcp", func(cfg *Config) {
		cfg.DataDir = t.TempDir()
		cfg.BindAddr = "127.0.0.1:0"
		cfg.Bootstrap = true
	}))
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, waitTimeout, "leadership", poll.Bool(s.IsLeader))
	mustApply(t, s, &SetConfig{Config: cluster.Config{ClusterID: "x"}})
	if addr, id := s.Leader(); addr != s.LocalAddr() || id != "tcp" {
		t.Errorf("leader %s %s", addr, id)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), &DeleteNode{Name: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("apply after close: %v", err)
	}
}

// TestLeadershipLostMidCommit: a leader cut off from its followers appends
// an entry it can no longer commit and steps down. The writer is told the
// outcome is unknown (the next leader may still commit the entry), not
// "not the leader", which callers read as never proposed and retry.
func TestLeadershipLostMidCommit(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.leader(t)
	mustApply(t, l, &PutNode{Node: &cluster.Node{Name: "n1"}})
	l.cfg.Transport.(*raft.InmemTransport).DisconnectAll()
	for _, s := range c.stores {
		if s != l {
			s.cfg.Transport.(*raft.InmemTransport).Disconnect(l.cfg.Transport.LocalAddr())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := l.Apply(ctx, &PutNode{Node: &cluster.Node{Name: "n2"}})
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotLeader) {
		t.Fatalf("apply on a leader cut off mid-commit: %v; want ErrOutcomeUnknown, not ErrNotLeader", err)
	}
	// Once it knows it is not the leader, a write is refused before it is
	// proposed: that is ErrNotLeader.
	poll.Until(t, waitTimeout, "the old leader steps down", poll.Bool(func() bool { return !l.IsLeader() }))
	if _, err := l.Apply(ctx, &PutNode{Node: &cluster.Node{Name: "n3"}}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("apply on a follower: %v; want ErrNotLeader", err)
	}
}
