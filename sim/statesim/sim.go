// Package statesim measures the state stream at scale: a Raft cluster of
// voters and non-voting replicas in this process over TCP loopback (the
// real consensus.Store, bolt log and file snapshots, the agent's default
// timings, plain TCP instead of mutual TLS), and N followers outside Raft
// in child processes, each on a stream served by a member that is not
// the leader (raw TCP carrying ServeStream's frames). It reports what the
// members cost idle and under churn, how long a change takes to reach the
// followers, a leader failover, and the snapshot of a large state.
// `make sim` runs it (cmd: sim/cmd/statesim).
//
// Memory bounds N: every full follower decodes its own copy of the
// state. So only the first Full followers are consensus.Stores applying
// the stream; the rest are light followers that read and decode every
// frame but hold only the index. The members' side, which is what is
// measured, is the same for both.
package statesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"shoal/consensus"
	"shoal/sim/cpulabel"
	"shoal/sim/spread"
)

// Options configure one run.
type Options struct {
	N int
	// Full is how many followers are full Stores (capped at N).
	Full int
	// PerProc is the most followers one child process runs.
	PerProc int
	// Voters and Replicas make the Raft cluster (3 and 2 by default).
	Voters, Replicas int
	// Nodes is the node records in the followed state (N by default), Pods
	// the pods placed on them (3,000, or 3 a node if more: every churn
	// command reports 3 pods of a node).
	Nodes, Pods int
	// Settle is the wait before each measured window; Idle and Churn their
	// lengths; ChurnRate the writer's commands a second.
	Settle, Idle, Churn time.Duration
	ChurnRate           int
	// Markers is how many times the spread of a change is timed.
	Markers int
	// SnapPods is the pods of the large state whose snapshot is timed
	// (0: none), on SnapPods/200 nodes.
	SnapPods int
	// View makes every follower follow its node's view (its node is
	// nodeName of its number) rather than the whole state.
	View bool
	// Exec is the binary to run the followers with (`Exec -role followers`);
	// empty runs them in this process (tests: their CPU is then the
	// members').
	Exec string
	// Dir holds the members' data (a temporary directory by default).
	Dir      string
	Logger   *slog.Logger
	Progress io.Writer
}

func (o *Options) defaults() error {
	if o.N < 1 {
		return fmt.Errorf("statesim: N %d: want at least 1 follower", o.N)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Full, 100)
	o.Full = min(o.Full, o.N)
	def(&o.PerProc, 1000)
	def(&o.Voters, 3)
	def(&o.Replicas, 2)
	def(&o.Nodes, o.N)
	def(&o.Pods, max(3000, 3*o.Nodes))
	def(&o.ChurnRate, 100)
	def(&o.Markers, 20)
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&o.Settle, 3 * time.Second}, {&o.Idle, 10 * time.Second}, {&o.Churn, 10 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.d
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// sim is one run's state.
type sim struct {
	opt    Options
	c      *raftCluster
	groups []*groupConn
	log    func(format string, args ...any)
}

// Run starts the cluster and the followers, measures, and stops them.
func Run(ctx context.Context, opt Options) (r Result, err error) {
	if err := opt.defaults(); err != nil {
		return r, err
	}
	if opt.Dir == "" {
		dir, err := os.MkdirTemp("", "statesim-")
		if err != nil {
			return r, fmt.Errorf("statesim: %w", err)
		}
		defer os.RemoveAll(dir)
		opt.Dir = dir
	}
	s := &sim{opt: opt, log: func(format string, args ...any) {
		fmt.Fprintf(opt.Progress, "N=%d: "+format+"\n", append([]any{opt.N}, args...)...)
	}}
	r = Result{N: opt.N, Full: opt.Full, Voters: opt.Voters, Replicas: opt.Replicas, Nodes: opt.Nodes, Pods: opt.Pods, View: opt.View}
	defer func() { err = errors.Join(err, s.stop()) }()
	if err := s.start(ctx, &r); err != nil {
		return r, err
	}
	phases := []func(context.Context, *Result) error{s.measureIdle, s.measureChurn, s.check, s.changes, s.failover, s.replicaLost}
	for _, p := range phases {
		if err := p(ctx, &r); err != nil {
			return r, err
		}
	}
	if err := s.stop(); err != nil {
		return r, err
	}
	if opt.SnapPods > 0 {
		if r.Snap, err = bigSnapshot(ctx, opt.Dir, opt.SnapPods, opt.Logger); err != nil {
			return r, err
		}
		s.log("big state: %d pods on %d nodes: snapshot %s, raft snapshot %s, stream encode %s, stream to a follower %s (heap %s); a node's view %s, to a follower %s (heap %s)",
			r.Snap.Pods, r.Snap.Nodes, size(r.Snap.Bytes), spread.Dur(r.Snap.Raft), spread.Dur(r.Snap.Encode), spread.Dur(r.Snap.Stream),
			size(int64(r.Snap.Heap)), size(r.Snap.ViewBytes), spread.Dur(r.Snap.ViewStream), size(int64(r.Snap.ViewHeap)))
	}
	return r, nil
}

// start opens the members, seeds the state, and starts the followers.
func (s *sim) start(ctx context.Context, r *Result) error {
	o := s.opt
	c, err := openCluster(ctx, o.Dir, o.Voters, o.Replicas, o.Logger)
	if err != nil {
		return fmt.Errorf("statesim: %w", err)
	}
	s.c = c
	l := c.leader()
	if l == nil {
		return errors.New("statesim: no leader after forming")
	}
	at := time.Now()
	if err := seed(ctx, l.store, o.Nodes, o.Pods); err != nil {
		return fmt.Errorf("statesim: seed the state: %w", err)
	}
	if err := l.store.Snapshot(); err != nil {
		return fmt.Errorf("statesim: snapshot the seeded state: %w", err)
	}
	r.StateBytes = snapshotBytes(o.Dir, l.id)
	s.log("%d+%d members, state of %d nodes and %d pods (snapshot %s) in %v",
		o.Voters, o.Replicas, o.Nodes, o.Pods, size(r.StateBytes), time.Since(at).Round(time.Millisecond))
	addrs := c.servingAddrs()
	r.Serving = len(addrs)
	since := l.store.State().Index()
	at = time.Now()
	for first := 0; first < o.N; first += o.PerProc {
		g, err := startGroup(ctx, o.Exec, GroupOptions{
			First: first, N: min(o.PerProc, o.N-first), Full: o.Full, Addrs: addrs, Since: since, View: o.View, Logger: o.Logger,
		})
		if err != nil {
			return fmt.Errorf("statesim: %w", err)
		}
		s.groups = append(s.groups, g)
	}
	r.Procs = len(s.groups)
	if o.Exec == "" {
		r.Procs = 0
	}
	sp, err := s.watch(ctx, since, time.Now(), 5*time.Minute)
	if err != nil {
		return err
	}
	if sp.Seen < sp.Of {
		return fmt.Errorf("statesim: only %d of %d followers caught up with the state", sp.Seen, sp.Of)
	}
	s.log("%d followers (%d full) in %d processes on %d serving members, caught up in %v",
		o.N, o.Full, r.Procs, len(addrs), time.Since(at).Round(time.Millisecond))
	return nil
}

// watch asks every follower when it reached idx and returns the spread
// from t0.
func (s *sim) watch(ctx context.Context, idx uint64, t0 time.Time, timeout time.Duration) (spread.Spread, error) {
	lines, err := ask(s.groups, fmt.Sprintf("watch %d %d", idx, timeout.Milliseconds()))
	if err != nil {
		return spread.Spread{}, fmt.Errorf("statesim: %w", err)
	}
	var seen []time.Duration
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 2+s.groups[i].n || f[0] != "seen" {
			return spread.Spread{}, fmt.Errorf("statesim: follower group %d answered %.80q to a watch", s.groups[i].first, line)
		}
		for _, v := range f[2:] {
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return spread.Spread{}, fmt.Errorf("statesim: follower group %d: bad time %q", s.groups[i].first, v)
			}
			if ns > 0 {
				seen = append(seen, max(time.Unix(0, ns).Sub(t0), 0))
			}
		}
	}
	return spread.Of(seen, s.opt.N), ctx.Err()
}

// measure runs one window: the members' process CPU, the followers'
// processes' CPU, bytes the members sent, Raft entries appended.
func (s *sim) measure(ctx context.Context, d time.Duration, commands *atomic.Int64) (Load, error) {
	if err := sleep(ctx, s.opt.Settle); err != nil {
		return Load{}, err
	}
	l := s.c.leader()
	if l == nil {
		return Load{}, errors.New("statesim: no leader to measure")
	}
	prof := cpulabel.Start()
	cpu0, fcpu0 := cpulabel.Process(), s.followerCPU()
	lb0, mb0, sb0 := s.c.sent()
	e0, c0, t0 := lastIndex(l.store), commands.Load(), time.Now()
	if err := sleep(ctx, d); err != nil {
		return Load{}, err
	}
	cpu1, fcpu1 := cpulabel.Process(), s.followerCPU()
	lb1, mb1, sb1 := s.c.sent()
	e1, c1, secs := lastIndex(l.store), commands.Load(), time.Since(t0).Seconds()
	byRole, err := prof.Stop(roleLabel)
	if err != nil {
		return Load{}, err
	}
	ld := Load{
		Seconds:     secs,
		MemberCores: (cpu1 - cpu0).Seconds() / secs,
		LeaderBytes: float64(lb1-lb0) / secs, MemberBytes: float64(mb1-mb0) / secs, StreamBytes: float64(sb1-sb0) / secs,
		Entries: float64(e1-e0) / secs, Commands: float64(c1-c0) / secs,
		FollowerCores: -1, LeaderCores: -1, OtherCores: -1,
	}
	if byRole != nil {
		ld.LeaderCores = byRole[l.id].Seconds() / secs
		for _, m := range s.c.members {
			if m != l {
				ld.OtherCores = max(ld.OtherCores, byRole[m.id].Seconds()/secs)
			}
		}
	}
	if s.opt.Exec != "" {
		ld.FollowerCores = (fcpu1 - fcpu0).Seconds() / secs / float64(s.opt.N)
	}
	return ld, nil
}

func (s *sim) followerCPU() time.Duration {
	var t time.Duration
	for _, g := range s.groups {
		t += g.cpu()
	}
	return t
}

// lastIndex is the leader's last Raft log index: every entry, raft's own
// included.
func lastIndex(st *consensus.Store) uint64 {
	n, _ := strconv.ParseUint(st.Stats()["last_log_index"], 10, 64)
	return n
}

func (s *sim) measureIdle(ctx context.Context, r *Result) error {
	var none atomic.Int64
	ld, err := s.measure(ctx, s.opt.Idle, &none)
	r.Idle = ld
	s.log("idle %.0fs: members %s of a core (leader %s, busiest other %s), followers %s each; leader sends %s, members %s (stream %s); %.1f raft entries/s",
		ld.Seconds, cores(ld.MemberCores), cores(ld.LeaderCores), cores(ld.OtherCores), cores(ld.FollowerCores), rate(ld.LeaderBytes), rate(ld.MemberBytes), rate(ld.StreamBytes), ld.Entries)
	return err
}

// measureChurn runs the writer at ChurnRate commands a second on the
// leader during one window.
func (s *sim) measureChurn(ctx context.Context, r *Result) error {
	l := s.c.leader()
	if l == nil {
		return errors.New("statesim: no leader for the churn")
	}
	var applied atomic.Int64
	wctx, stop := context.WithCancel(ctx)
	var werr error
	var wg sync.WaitGroup
	cpulabel.Do(roleLabel, "writer", func() { wg.Go(func() { werr = s.write(wctx, l.store, &applied) }) })
	ld, err := s.measure(ctx, s.opt.Churn, &applied)
	stop()
	wg.Wait()
	r.Churn = ld
	s.log("churn %.0fs at %.0f commands/s: members %s of a core (leader %s, busiest other %s), followers %s each; leader sends %s, members %s (stream %s); %.1f raft entries/s",
		ld.Seconds, ld.Commands, cores(ld.MemberCores), cores(ld.LeaderCores), cores(ld.OtherCores), cores(ld.FollowerCores), rate(ld.LeaderBytes), rate(ld.MemberBytes), rate(ld.StreamBytes), ld.Entries)
	return errors.Join(err, werr)
}

// write applies churn commands at the rate, each on its own (as agents'
// status reports arrive), with at most 64 in flight.
func (s *sim) write(ctx context.Context, l *consensus.Store, applied *atomic.Int64) error {
	tick := time.NewTicker(time.Second / time.Duration(s.opt.ChurnRate))
	defer tick.Stop()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	defer wg.Wait()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			if e := failed.Load(); e != nil {
				return *e
			}
			return nil
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // the leader is behind: the rate measured says so
		}
		cmd := churnCommand(seq, s.opt.Nodes, s.opt.Pods)
		wg.Go(func() {
			defer func() { <-sem }()
			if err := apply(context.WithoutCancel(ctx), l, cmd); err != nil {
				err = fmt.Errorf("statesim: churn: %w", err)
				failed.CompareAndSwap(nil, &err)
				return
			}
			applied.Add(1)
		})
	}
}

// check compares every full follower's state with the leader's once all
// reached the leader's index.
func (s *sim) check(ctx context.Context, r *Result) error {
	l := s.c.leader()
	if l == nil {
		return errors.New("statesim: no leader to check against")
	}
	if err := l.store.Barrier(ctx); err != nil {
		return fmt.Errorf("statesim: %w", err)
	}
	st := l.store.State()
	if _, err := s.watch(ctx, st.Index(), time.Now(), time.Minute); err != nil {
		return err
	}
	if s.opt.View {
		st = st.View("") // what every node's view holds of it, summaries all round
	}
	want, err := digest(st)
	if err != nil {
		return err
	}
	lines, err := ask(s.groups, fmt.Sprintf("check %d %s", st.Index(), want))
	if err != nil {
		return fmt.Errorf("statesim: %w", err)
	}
	c := Check{Index: st.Index()}
	for _, line := range lines {
		var same, full, lightAt, light int
		if _, err := fmt.Sscanf(line, "check %d %d %d %d", &same, &full, &lightAt, &light); err != nil {
			return fmt.Errorf("statesim: bad check answer %q: %w", line, err)
		}
		c.FullSame, c.Full, c.LightAtIndex, c.Light = c.FullSame+same, c.Full+full, c.LightAtIndex+lightAt, c.Light+light
	}
	r.Check = c
	s.log("after the churn, at index %d: %d/%d full followers hold the leader's state, %d/%d light ones are at its index",
		c.Index, c.FullSame, c.Full, c.LightAtIndex, c.Light)
	return nil
}

// changes times Markers changes made on the leader until the followers
// see them: from the Apply call until each follower's state reaches the
// change's index. Commit is until Apply returned on the leader (the
// change committed and applied there).
func (s *sim) changes(ctx context.Context, r *Result) error {
	var spreads []spread.Spread
	var commits []time.Duration
	for i := range s.opt.Markers {
		l := s.c.leader()
		if l == nil {
			return errors.New("statesim: no leader for the changes")
		}
		t0 := time.Now()
		idx, err := applyIndex(ctx, l.store, marker(i))
		if err != nil {
			return fmt.Errorf("statesim: marker %d: %w", i, err)
		}
		commits = append(commits, time.Since(t0))
		sp, err := s.watch(ctx, idx, t0, 30*time.Second)
		if err != nil {
			return err
		}
		spreads = append(spreads, sp)
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	r.Change, r.Commit = repeated(spreads), summarize(commits)
	s.log("a change committed on the leader after %s, seen by 50%%/99%%/100%% of the followers after %s / %s / %s (medians over %d)",
		spread.Dur(r.Commit.Median), spread.Dur(r.Change.P50.Median), spread.Dur(r.Change.P99.Median), spread.Dur(r.Change.Max.Median), r.Change.Reps)
	return nil
}

// failover kills the leader and times until another member commits a
// write, and until the followers see it.
func (s *sim) failover(ctx context.Context, r *Result) error {
	old := s.c.leader()
	if old == nil {
		return errors.New("statesim: no leader to kill")
	}
	t0 := time.Now()
	if err := old.kill(); err != nil {
		s.log("kill %s: %v", old.id, err)
	}
	var idx uint64
	err := waitUntil(ctx, "a new leader commits a write", func() bool {
		l := s.c.leader()
		if l == nil {
			return false
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		i, err := applyIndex(wctx, l.store, marker(-1))
		idx = i
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("statesim: %w", err)
	}
	r.Elect = time.Since(t0)
	if r.Failover, err = s.watch(ctx, idx, t0, time.Minute); err != nil {
		return err
	}
	if r.Reconnects, err = s.reconnects(); err != nil {
		return err
	}
	s.log("leader %s killed: a new leader's write after %s; seen by 50%%/99%%/100%% of the followers after %s / %s / %s; %d stream reconnects",
		old.id, spread.Dur(r.Elect), spread.Dur(r.Failover.P50), spread.Dur(r.Failover.P99), r.Failover.Full(spread.Dur), r.Reconnects)
	return nil
}

// replicaLost kills a replica that serves followers, makes a change at
// once, and times until the followers see it: those of the replica move to
// another member, from their index.
func (s *sim) replicaLost(ctx context.Context, r *Result) error {
	if s.opt.Replicas == 0 {
		return nil
	}
	victim := s.c.members[len(s.c.members)-1]
	l := s.c.leader()
	if l == nil {
		return errors.New("statesim: no leader after the failover")
	}
	before, err := s.reconnects()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := victim.kill(); err != nil {
		s.log("kill %s: %v", victim.id, err)
	}
	idx, err := applyIndex(ctx, l.store, marker(-2))
	if err != nil {
		return fmt.Errorf("statesim: write after the replica's kill: %w", err)
	}
	if r.ReplicaLost, err = s.watch(ctx, idx, t0, time.Minute); err != nil {
		return err
	}
	after, err := s.reconnects()
	if err != nil {
		return err
	}
	r.Moved, r.Reconnects = after-before, after
	s.log("replica %s killed: %d follower streams moved; a write seen by 50%%/99%%/100%% of the followers after %s / %s / %s",
		victim.id, r.Moved, spread.Dur(r.ReplicaLost.P50), spread.Dur(r.ReplicaLost.P99), r.ReplicaLost.Full(spread.Dur))
	return nil
}

// reconnects is how many follower streams ended and were reopened.
func (s *sim) reconnects() (int64, error) {
	lines, err := ask(s.groups, "stats")
	if err != nil {
		return 0, fmt.Errorf("statesim: %w", err)
	}
	var total int64
	for _, line := range lines {
		var n int64
		if _, err := fmt.Sscanf(line, "stats %d", &n); err != nil {
			return 0, fmt.Errorf("statesim: bad stats answer %q: %w", line, err)
		}
		total += n
	}
	return total, nil
}

// stop ends the followers, then the members; a second call does nothing.
func (s *sim) stop() error {
	var err error
	for _, g := range s.groups {
		err = errors.Join(err, g.close())
	}
	s.groups = nil
	if s.c != nil {
		s.c.close()
		s.c = nil
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
