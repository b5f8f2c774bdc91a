package consensus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"shoal/cluster"
	"shoal/internal/diskfull"
	"shoal/internal/poll"
)

// fakeDisk is a data dir whose fullness a test sets: the guard's verdict,
// and whether the stores' writes fail with ENOSPC. Releasing the ballast
// lets the writes through again, as the freed space would.
type fakeDisk struct {
	mu         sync.Mutex
	short      bool // the guard refuses new writes
	writesFail bool // the stores' writes fail with ENOSPC
	ballast    bool
	failed     int
}

func (d *fakeDisk) set(short, writesFail, ballast bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.short, d.writesFail, d.ballast = short, writesFail, ballast
}

func (d *fakeDisk) Dir() string { return "/data" }

func (d *fakeDisk) Check() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.short {
		return &diskfull.Error{Dir: "/data", Free: 1 << 20, Reserve: 64 << 20}
	}
	return nil
}

func (d *fakeDisk) Release() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.ballast {
		return false
	}
	d.ballast, d.writesFail = false, false
	return true
}

// fail is the error a write gets now: bolt's, a *PathError around ENOSPC.
func (d *fakeDisk) fail() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.writesFail {
		d.failed++
		return &os.PathError{Op: "write", Path: "/data/raft/raft.db", Err: syscall.ENOSPC}
	}
	return nil
}

// fullStore is an in-memory log and stable store on a fakeDisk.
type fullStore struct {
	*raft.InmemStore
	disk *fakeDisk
}

func (s fullStore) StoreLogs(ls []*raft.Log) error {
	if err := s.disk.fail(); err != nil {
		return err
	}
	return s.InmemStore.StoreLogs(ls)
}

func (s fullStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s fullStore) Set(k, v []byte) error {
	if err := s.disk.fail(); err != nil {
		return err
	}
	return s.InmemStore.Set(k, v)
}

func (s fullStore) SetUint64(k []byte, v uint64) error {
	if err := s.disk.fail(); err != nil {
		return err
	}
	return s.InmemStore.SetUint64(k, v)
}

// TestApplyOnFullDisk: a single member whose data dir fills up refuses
// writes with an error that names the cause, keeps its state and its
// Raft member (no panic, no shutdown) and writes again once space is back.
func TestApplyOnFullDisk(t *testing.T) {
	// Restored after the store's cleanup closed it (cleanups run last
	// first), so no Raft goroutine reads it meanwhile.
	saved := spaceRetryEvery
	t.Cleanup(func() { spaceRetryEvery = saved })
	spaceRetryEvery = 20 * time.Millisecond
	disk := &fakeDisk{}
	st := fullStore{raft.NewInmemStore(), disk}
	s := newTestCluster(t, 1, func(cfg *Config) {
		cfg.LogStore, cfg.StableStore, cfg.Space = st, st, disk
	}).stores[0]
	mustApply(t, s, &SetConfig{Config: cluster.Config{ClusterID: "c1"}})
	before := s.State().Index()

	for _, tc := range []struct {
		name                       string
		short, writesFail, ballast bool
		wantENOSPC                 bool
	}{
		// The usual case: the guard sees the disk short and refuses.
		{name: "guard refuses", short: true, writesFail: true},
		// The disk filled between the guard's look and the append, and
		// there is no ballast left: the leader's append fails and it steps
		// down; its next term waits for space instead of panicking.
		{name: "append fails", writesFail: true, wantENOSPC: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk.set(tc.short, tc.writesFail, tc.ballast)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			_, err := s.Apply(ctx, &SetConfig{Config: cluster.Config{ClusterID: "c2"}})
			if !errors.Is(err, diskfull.ErrFull) || !strings.Contains(err.Error(), "the data dir /data is full") {
				t.Fatalf("apply on a full disk: %v; want the data dir named as full", err)
			}
			if got := errors.Is(err, syscall.ENOSPC); got != tc.wantENOSPC {
				t.Errorf("errors.Is(%v, ENOSPC) = %v, want %v", err, got, tc.wantENOSPC)
			}
			if s.State().Index() != before || s.State().Config().ClusterID != "c1" {
				t.Errorf("state changed by a refused write: index %d → %d, cluster %q", before, s.State().Index(), s.State().Config().ClusterID)
			}
		})
	}
	select {
	case <-s.Halted():
		t.Fatalf("halted: %v", s.HaltErr())
	default:
	}

	// The stepped-down leader's next term waits for space: it stays up,
	// no longer leading, trying again.
	time.Sleep(20 * spaceRetryEvery)
	disk.mu.Lock()
	failed := disk.failed
	disk.mu.Unlock()
	if failed < 3 || s.IsLeader() {
		t.Errorf("%d failed writes while the disk was full, leader %v; want the term write retried, no leader", failed, s.IsLeader())
	}
	// Space returns: the member leads again and writes.
	disk.set(false, false, true)
	poll.Until(t, waitTimeout, "the member leads again", poll.Bool(s.IsLeader))
	poll.Until(t, waitTimeout, "a write after space returned", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := s.Apply(ctx, &SetConfig{Config: cluster.Config{ClusterID: "c3"}})
		return err == nil, fmt.Sprint(err)
	})
	if got := s.State().Config().ClusterID; got != "c3" {
		t.Errorf("cluster ID %q after space returned, want c3", got)
	}
}

func TestRetryOnFull(t *testing.T) {
	enospc := fmt.Errorf("commit: %w", &os.PathError{Op: "write", Path: "raft.db", Err: syscall.ENOSPC})
	other := errors.New("bolt: database not open")
	for _, tc := range []struct {
		name      string
		errs      []error // each write's result, in turn
		ballast   bool
		wantCalls int
		wantFull  bool
		wantErr   error
	}{
		{name: "ok", errs: []error{nil}, ballast: true, wantCalls: 1},
		{name: "full, ballast freed, retried", errs: []error{enospc, nil}, ballast: true, wantCalls: 2},
		{name: "full, no ballast", errs: []error{enospc}, wantCalls: 1, wantFull: true, wantErr: syscall.ENOSPC},
		{name: "full even after the ballast", errs: []error{enospc, enospc}, ballast: true, wantCalls: 2, wantFull: true, wantErr: syscall.ENOSPC},
		{name: "another error is not retried", errs: []error{other}, ballast: true, wantCalls: 1, wantErr: other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := &fakeDisk{ballast: tc.ballast}
			calls := 0
			err := retryOnFull(disk, "store raft state", func() error {
				calls++
				return tc.errs[calls-1]
			})
			if calls != tc.wantCalls {
				t.Errorf("%d writes, want %d", calls, tc.wantCalls)
			}
			if (tc.wantErr == nil) != (err == nil) || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if got := errors.Is(err, diskfull.ErrFull); got != tc.wantFull {
				t.Errorf("errors.Is(%v, ErrFull) = %v, want %v", err, got, tc.wantFull)
			}
		})
	}
}
