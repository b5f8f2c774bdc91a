// Package consensus replicates the cluster state with Raft. Every agent
// that is a Raft member runs a Store: the leader applies commands (batched,
// many to a log entry), and every member's FSM turns the log into an
// immutable cluster.State that readers take without locks.
package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"shoal/cluster"
)

// Config configures a Store. Zero timing knobs take hashicorp/raft's
// defaults (1 s heartbeat and election timeouts), which suit a LAN.
type Config struct {
	// NodeID is this member's Raft ID: the node name.
	NodeID string
	// Version is this agent's version, named when the log cannot be
	// applied.
	Version string
	// DataDir holds raft/ (raft.db, the bolt log and stable store, and
	// snapshots/). Unused when LogStore, StableStore and SnapshotStore are
	// all given.
	DataDir string
	// BindAddr is the TCP address the Raft transport listens on;
	// Advertise, if set, is the address other members dial.
	BindAddr  string
	Advertise string
	// TLS, if set, makes the Raft transport mutual TLS. Nil keeps plain
	// TCP, which anyone who reaches BindAddr can forge Raft RPCs on.
	TLS *RaftTLS
	// Bootstrap makes a member with no Raft state the single voter of a
	// new cluster. A member that has state recovers it and ignores this.
	Bootstrap bool
	Logger    *slog.Logger
	// Space, if set, guards the data dir's free space: Apply refuses
	// commands while it is short, and Raft's own writes may spend its
	// ballast. See SpaceGuard.
	Space SpaceGuard

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot
	// (default 8192); SnapshotInterval how often that is checked (default
	// 2 min); TrailingLogs how many entries a snapshot leaves in the log for
	// slow followers (default 10240).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// ApplyTimeout bounds how long a batch may wait to enter the log
	// (default 10 s).
	ApplyTimeout time.Duration
	// MaxBatchCommands and MaxBatchBytes bound one log entry (defaults
	// 4096 commands, 8 MiB); larger entries slow every follower's append.
	MaxBatchCommands int
	MaxBatchBytes    int
	// FeedEntries and FeedBytes bound the applied entries kept in memory
	// for the state stream (defaults 1024 entries, 8 MiB): a follower
	// further behind than that catches up from a snapshot.
	FeedEntries int
	FeedBytes   int

	// For in-process tests: a transport (raft.NewInmemTransport) and
	// stores (raft.NewInmemStore, raft.NewInmemSnapshotStore) to use
	// instead of TCP and DataDir. The Store does not close them.
	Transport     raft.Transport
	LogStore      raft.LogStore
	StableStore   raft.StableStore
	SnapshotStore raft.SnapshotStore

	// beforeCollect, set only by tests, runs each time the batcher holds
	// a first request and is about to gather the rest of the queue.
	beforeCollect func()
}

func (c *Config) withDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 10 * time.Second
	}
	if c.MaxBatchCommands == 0 {
		c.MaxBatchCommands = 4096
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 8 << 20
	}
}

// Server is one Raft member.
type Server struct {
	ID    string
	Addr  string
	Voter bool
}

// Store is this agent's Raft member and the state it replicates.
type Store struct {
	cfg  Config
	log  *slog.Logger
	raft *raft.Raft
	fsm  *fsm

	trans  raft.Transport
	closer []io.Closer // what Open opened: the bolt store, the TCP transport

	// stream is what the state stream this agent follows told it.
	stream streamView
	// views is the last change made for the views this member serves.
	views viewShare

	reqs     chan *applyReq
	done     chan struct{}
	wg       sync.WaitGroup
	closing  sync.Once
	leaderCh chan bool
}

// Open starts a Raft member. With no existing Raft state and Bootstrap set,
// it makes itself the single voter; with existing state (a restart, clean
// or after kill -9) it recovers from the latest snapshot plus the log.
func Open(cfg Config) (*Store, error) {
	cfg.withDefaults()
	if cfg.NodeID == "" {
		return nil, fmt.Errorf("open consensus store: %w: empty node ID", ErrInvalid)
	}
	if cfg.TLS != nil {
		if cfg.Transport != nil {
			return nil, fmt.Errorf("open consensus store %s: %w: TLS set with a given Transport", cfg.NodeID, ErrInvalid)
		}
		if err := cfg.TLS.validate(); err != nil {
			return nil, fmt.Errorf("open consensus store %s: %w", cfg.NodeID, err)
		}
	}
	s := &Store{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "consensus"),
		reqs:     make(chan *applyReq, 4096),
		done:     make(chan struct{}),
		leaderCh: make(chan bool, 1),
	}
	s.fsm = newFSM(s.log)
	s.fsm.version = cfg.Version
	s.fsm.feed.setLimits(cfg.FeedEntries, cfg.FeedBytes)
	if err := s.open(); err != nil {
		close(s.done)
		s.wg.Wait()
		_ = s.closeResources()
		return nil, fmt.Errorf("open consensus store %s: %w", cfg.NodeID, err)
	}
	s.wg.Add(1)
	go s.batcher()
	return s, nil
}

func (s *Store) open() error {
	cfg := s.cfg
	logs, stable, snaps := cfg.LogStore, cfg.StableStore, cfg.SnapshotStore
	if logs == nil || stable == nil || snaps == nil {
		if cfg.DataDir == "" {
			return fmt.Errorf("%w: no data dir", ErrInvalid)
		}
		dir := filepath.Join(cfg.DataDir, "raft")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create raft dir: %w", err)
		}
		if logs == nil || stable == nil {
			// bolt waits forever for the file lock by default; another agent
			// on the same data dir is an error to report, not a hang.
			bolt, err := raftboltdb.New(raftboltdb.Options{
				Path:        filepath.Join(dir, "raft.db"),
				BoltOptions: &bbolt.Options{Timeout: 5 * time.Second},
			})
			if err != nil {
				return fmt.Errorf("open raft.db: %w", err)
			}
			s.closer = append(s.closer, bolt)
			if logs == nil {
				logs = bolt
			}
			if stable == nil {
				stable = bolt
			}
		}
		if snaps == nil {
			fss, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, newHCLog(s.log, "snapshot"))
			if err != nil {
				return fmt.Errorf("open snapshot store: %w", err)
			}
			snaps = fss
		}
	}
	if cfg.Space != nil {
		logs, stable = spaceLogs{logs, cfg.Space}, spaceStable{stable, cfg.Space, s.done, s.log}
	}
	s.trans = cfg.Transport
	if s.trans == nil {
		t, err := s.tcpTransport()
		if err != nil {
			return err
		}
		s.trans = t
		s.closer = append(s.closer, t)
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = newHCLog(s.log, "raft")
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	if cfg.CommitTimeout > 0 {
		rc.CommitTimeout = cfg.CommitTimeout
	}
	// NotifyCh, unlike LeaderCh, is ours alone, so no notification is
	// dropped for want of a reader elsewhere.
	notify := make(chan bool, 16)
	rc.NotifyCh = notify
	s.wg.Add(1)
	go s.followLeadership(notify)

	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("check for raft state: %w", err)
	}
	// Raft that starts with nothing of its own is first fed from the
	// log's start or a snapshot: only then may this agent hold a node's
	// view, which that first feed replaces (see fsm.viewsAllowed).
	s.fsm.freshRaft.Store(!has)
	if !has && cfg.Bootstrap {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: s.trans.LocalAddr(),
		}}}
		if err := raft.BootstrapCluster(rc, logs, stable, snaps, s.trans, boot); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, s.fsm, logs, stable, snaps, s.trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	s.raft = r
	return nil
}

// tcpTransport listens on BindAddr: over mutual TLS when Config.TLS is
// set, else plain TCP.
func (s *Store) tcpTransport() (*raft.NetworkTransport, error) {
	bind := s.cfg.BindAddr
	if bind == "" {
		return nil, fmt.Errorf("%w: no raft bind address", ErrInvalid)
	}
	var adv net.Addr
	if s.cfg.Advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", s.cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("resolve raft advertise address %q: %w", s.cfg.Advertise, err)
		}
		adv = a
	}
	if s.cfg.TLS != nil {
		stream, err := newTLSStream(bind, adv, s.cfg.TLS, s.log.With("logger", "raft-tls"))
		if err != nil {
			return nil, err
		}
		return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  stream,
			MaxPool: 3,
			Timeout: 10 * time.Second,
			Logger:  newHCLog(s.log, "raft-net"),
		}), nil
	}
	t, err := raft.NewTCPTransportWithLogger(bind, adv, 3, 10*time.Second, newHCLog(s.log, "raft-net"))
	if err != nil {
		return nil, fmt.Errorf("listen for raft on %s: %w", bind, err)
	}
	return t, nil
}

// followLeadership tracks raft's leadership notifications.
func (s *Store) followLeadership(notify <-chan bool) {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case v := <-notify:
			// Keep only the latest value for the reader: a stale "true"
			// must not be read after a newer "false".
			select {
			case <-s.leaderCh:
			default:
			}
			s.leaderCh <- v
			s.log.Info("leadership changed", "leader", v)
		}
	}
}

// Close shuts Raft down gracefully (no snapshot is forced: the log
// replays on the next Open) and releases the stores Open opened.
func (s *Store) Close() error {
	var err error
	s.closing.Do(func() {
		close(s.done)
		if s.raft != nil {
			if e := s.raft.Shutdown().Error(); e != nil {
				err = fmt.Errorf("shut down raft: %w", e)
			}
		}
		s.wg.Wait()
		err = errors.Join(err, s.closeResources())
	})
	return err
}

func (s *Store) closeResources() error {
	var err error
	for i := len(s.closer) - 1; i >= 0; i-- {
		if e := s.closer[i].Close(); e != nil {
			err = errors.Join(err, fmt.Errorf("close raft storage: %w", e))
		}
	}
	s.closer = nil
	return err
}

// Halted is closed when this member cannot apply the log any further (a
// corrupt entry, or one from a newer agent): the agent must stop, with
// HaltErr as the reason, rather than serve a state that no longer follows
// the cluster's.
func (s *Store) Halted() <-chan struct{} { return s.fsm.haltCh }

// HaltErr says why the log halted (wrapping ErrHalted); nil while it
// applies.
func (s *Store) HaltErr() error { return s.fsm.haltErr() }

// State returns the latest applied state. It never blocks.
func (s *Store) State() *cluster.State { return s.fsm.state.Load() }

// Changed returns a channel that is closed at the next change of State.
// Take it before reading State so that no change falls between the two.
func (s *Store) Changed() <-chan struct{} { return s.fsm.changedCh() }

// WaitForIndex waits until this member's State has reached idx, a
// Result.Index (or State().Index()) seen on any member, so that a read
// here after a write elsewhere sees the write. Raft's own AppliedIndex is
// no substitute: raft advances it when it hands entries to the FSM, before
// they are applied.
func (s *Store) WaitForIndex(ctx context.Context, idx uint64) error {
	for {
		ch := s.Changed()
		if s.State().Index() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for raft index %d (at %d): %w", idx, s.State().Index(), ctx.Err())
		case <-s.done:
			return ErrClosed
		}
	}
}

// CaughtUp reports whether this member's State holds every entry the
// leader has told it is committed, and a leader is known: a member that
// just restarted replays an old state first, and nothing that deletes data
// may act on that.
func (s *Store) CaughtUp() bool {
	if !s.RaftLive() {
		s.stream.mu.Lock()
		defer s.stream.mu.Unlock()
		return s.stream.fresh() && s.stream.caughtUp && s.stream.leaderID != ""
	}
	if _, id := s.Leader(); id == "" {
		return false
	}
	// AppliedIndex, not State().Index(): the last committed entries may be
	// Raft's own (a leader's no-op), which never reach the State.
	c := s.raft.CommitIndex()
	return c > 0 && s.raft.AppliedIndex() >= c
}

// IsLeader reports whether this member is the leader now.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// LeaderCh delivers this member's leadership after each change (true: it
// became leader). It has one reader, keeps only the latest value, and is
// what starts and stops the leader-only loops.
func (s *Store) LeaderCh() <-chan bool { return s.leaderCh }

// Leader returns the current leader's Raft address and ID, empty if none
// is known: raft's own knowledge, else what the state stream this agent
// follows said last (an agent outside Raft forwards its writes there).
func (s *Store) Leader() (addr, id string) {
	if a, i := s.raft.LeaderWithID(); i != "" {
		return string(a), string(i)
	}
	s.stream.mu.Lock()
	defer s.stream.mu.Unlock()
	if s.stream.fresh() {
		return s.stream.leaderAddr, s.stream.leaderID
	}
	return "", ""
}

func (s *Store) notLeader() error {
	addr, id := s.Leader()
	return &NotLeaderError{LeaderAddr: addr, LeaderID: id}
}

// timeout turns ctx's deadline into raft's timeout argument (0: none).
func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// raftErr maps raft's leadership errors to ErrNotLeader with the leader.
func (s *Store) raftErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%s: %w (%v)", what, s.notLeader(), err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Barrier returns once every entry committed before it is applied here; on
// the leader that makes the following State() read linearizable.
func (s *Store) Barrier(ctx context.Context) error {
	return s.raftErr("raft barrier", s.raft.Barrier(timeout(ctx)).Error())
}

// VerifyLeader confirms with a quorum, without writing to the log, that
// this member still leads: a leader cut off in a minority must not vouch
// for anything (fencing leases) after it has been replaced.
func (s *Store) VerifyLeader(ctx context.Context) error {
	f := s.raft.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return s.raftErr("verify leader", err)
	case <-ctx.Done():
		return fmt.Errorf("verify leader: %w", ctx.Err())
	}
}

// DemoteVoter turns a voter into a non-voter that keeps receiving the log.
func (s *Store) DemoteVoter(ctx context.Context, id string) error {
	return s.raftErr("demote voter "+id, s.raft.DemoteVoter(raft.ServerID(id), 0, timeout(ctx)).Error())
}

// AddNonvoter adds a member that receives the log but does not vote.
func (s *Store) AddNonvoter(ctx context.Context, id, addr string) error {
	f := s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout(ctx))
	return s.raftErr("add raft nonvoter "+id, f.Error())
}

// AddVoter adds a voting member, or promotes a non-voter.
func (s *Store) AddVoter(ctx context.Context, id, addr string) error {
	f := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout(ctx))
	return s.raftErr("add raft voter "+id, f.Error())
}

// RemoveServer removes a member.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	f := s.raft.RemoveServer(raft.ServerID(id), 0, timeout(ctx))
	return s.raftErr("remove raft server "+id, f.Error())
}

// Servers returns the Raft membership as of the latest configuration.
func (s *Store) Servers() ([]Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("get raft configuration: %w", err)
	}
	var out []Server
	for _, sv := range f.Configuration().Servers {
		out = append(out, Server{ID: string(sv.ID), Addr: string(sv.Address), Voter: sv.Suffrage == raft.Voter})
	}
	return out, nil
}

// Stats returns raft's counters (state, term, indexes, peers) for
// diagnostics.
func (s *Store) Stats() map[string]string { return s.raft.Stats() }

// LocalAddr is the address other members reach this one at.
func (s *Store) LocalAddr() string { return string(s.trans.LocalAddr()) }

// Snapshot takes a snapshot now (for tests and operators).
func (s *Store) Snapshot() error {
	return s.raftErr("raft snapshot", s.raft.Snapshot().Error())
}
