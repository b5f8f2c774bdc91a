package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// FastTimings tightens every Raft timer so that an in-process election
// takes tens of milliseconds. For tests and benchmarks only: on a real
// network these timings would cause elections on every hiccup.
func FastTimings(cfg *Config) {
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
}

// OpenInmem opens n members on raft's in-memory transport, all connected,
// with fast timings: the one fixture behind every in-process Raft test and
// benchmark (as raft.MakeCluster is hashicorp/raft's). Member i is named
// "n<i>"; member 0 bootstraps and leads, and the others are added to it as
// voters. fn, if given, adjusts each member's Config before it opens.
// The caller closes the stores.
func OpenInmem(ctx context.Context, n int, fn func(i int, cfg *Config)) ([]*Store, error) {
	trans := make([]*raft.InmemTransport, n)
	for i := range trans {
		_, trans[i] = raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("mem-%d", i)))
	}
	for i, a := range trans {
		for j, b := range trans {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	var stores []*Store
	closeAll := func() {
		for _, s := range stores {
			_ = s.Close()
		}
	}
	for i := range n {
		cfg := Config{
			NodeID:        fmt.Sprintf("n%d", i),
			Bootstrap:     i == 0,
			Transport:     trans[i],
			LogStore:      raft.NewInmemStore(),
			StableStore:   raft.NewInmemStore(),
			SnapshotStore: raft.NewInmemSnapshotStore(),
		}
		FastTimings(&cfg)
		if fn != nil {
			fn(i, &cfg)
		}
		s, err := Open(cfg)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open in-memory member %d: %w", i, err)
		}
		stores = append(stores, s)
	}
	if n == 0 {
		return nil, nil
	}
	if err := waitLeader(ctx, stores[0]); err != nil {
		closeAll()
		return nil, err
	}
	for _, s := range stores[1:] {
		if err := stores[0].AddVoter(ctx, s.cfg.NodeID, s.LocalAddr()); err != nil {
			closeAll()
			return nil, fmt.Errorf("add in-memory member %s: %w", s.cfg.NodeID, err)
		}
	}
	return stores, nil
}

// ID is this member's Raft server ID.
func (s *Store) ID() string { return s.cfg.NodeID }

func waitLeader(ctx context.Context, s *Store) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !s.IsLeader() {
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("in-memory member n0 did not become leader"), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
