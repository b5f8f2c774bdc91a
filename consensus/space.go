package consensus

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"

	"shoal/internal/diskfull"
)

// SpaceGuard watches the free space of the data dir (a *diskfull.Guard).
// Apply refuses commands while Check fails, so a full disk costs writes,
// never the Raft member: hashicorp/raft steps a leader down when it cannot
// append to its log, and panics when it cannot store a new term or vote.
// Release frees the ballast the guard kept for those writes.
type SpaceGuard interface {
	Check() error
	Release() bool
	Dir() string
}

// checkSpace is the guard's verdict on a new write, nil without a guard.
func (s *Store) checkSpace() error {
	if s.cfg.Space == nil {
		return nil
	}
	return s.cfg.Space.Check()
}

// spaceDir names the directory a disk-full error concerns.
func (s *Store) spaceDir() string {
	if s.cfg.Space != nil {
		return s.cfg.Space.Dir()
	}
	return s.cfg.DataDir
}

// retryOnFull runs write, and once more after releasing the ballast if it
// failed for want of space; an error that remains names the data dir.
func retryOnFull(g SpaceGuard, what string, write func() error) error {
	err := write()
	if diskfull.Is(err) && g.Release() {
		err = write()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, diskfull.Wrap(g.Dir(), err))
	}
	return nil
}

// spaceLogs is a raft.LogStore whose appends may spend the ballast: a
// follower that cannot append falls behind, and a leader steps down.
type spaceLogs struct {
	raft.LogStore
	g SpaceGuard
}

func (l spaceLogs) StoreLog(e *raft.Log) error {
	return retryOnFull(l.g, "store raft log", func() error { return l.LogStore.StoreLog(e) })
}

func (l spaceLogs) StoreLogs(es []*raft.Log) error {
	return retryOnFull(l.g, "store raft logs", func() error { return l.LogStore.StoreLogs(es) })
}

// spaceStable is a raft.StableStore whose writes never fail for want of
// space while the store is open: hashicorp/raft panics when it cannot store
// a new term, so a write that fails even after the ballast was released
// waits for space instead, stalling this member's Raft loop (reads of the
// applied state go on) until the operator frees some.
type spaceStable struct {
	raft.StableStore
	g    SpaceGuard
	done <-chan struct{} // the Store closing: give up, raft is stopping
	log  *slog.Logger
}

// spaceRetryEvery is how often a Raft term or vote that found the disk
// full is tried again.
var spaceRetryEvery = time.Second

func (s spaceStable) Set(k, v []byte) error {
	return s.wait(func() error { return s.StableStore.Set(k, v) })
}

func (s spaceStable) SetUint64(k []byte, v uint64) error {
	return s.wait(func() error { return s.StableStore.SetUint64(k, v) })
}

func (s spaceStable) wait(write func() error) error {
	for logged := false; ; {
		err := retryOnFull(s.g, "store raft state", write)
		if err == nil || !diskfull.Is(err) {
			return err
		}
		if !logged {
			s.log.Error("raft waits for space to store its term or vote", "err", err)
			logged = true
		}
		select {
		case <-s.done:
			return err
		case <-time.After(spaceRetryEvery):
		}
	}
}
