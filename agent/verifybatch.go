package agent

import (
	"context"
	"sync"
	"time"
)

// verifyBatcher lets lease renewals share the leader's quorum checks.
// raft.VerifyLeader heartbeats every Raft member at once, so one check per
// renewal made the leader's idle work grow with the square of the cluster
// (N agents renewing every lease/4, each renewal reaching every member)
// and every member's with N. Renewals that arrive within one window share
// a single check, started when the window closes: at most one check per
// window whatever the number of agents.
//
// A renewal is only ever confirmed by a check that started after it
// arrived. That is what made one check per renewal safe: a leader deposed
// before the renewal arrived cannot pass a check started afterwards, since
// the quorum that answers it has not yet voted in a newer term. A check
// already under way when a renewal arrives therefore never confirms it;
// the renewal joins the next window.
type verifyBatcher struct {
	verify func(context.Context) error
	// wait is the window (time.Sleep of it in the agent; a gate in tests).
	wait func()
	// timeout bounds one check: the renewals it serves wait on their own
	// contexts as well.
	timeout time.Duration

	mu   sync.Mutex
	open *verifyBatch // gathering renewals; its check has not started
}

// verifyBatch is one window's renewals and, once done is closed, the
// outcome of their shared check.
type verifyBatch struct {
	waiters int
	done    chan struct{}
	err     error
}

func newVerifyBatcher(verify func(context.Context) error, window, timeout time.Duration) *verifyBatcher {
	return &verifyBatcher{verify: verify, wait: func() { time.Sleep(window) }, timeout: timeout}
}

// Verify returns the outcome of a leadership check started after the call
// (and after at most one window), or ctx's error.
func (v *verifyBatcher) Verify(ctx context.Context) error {
	v.mu.Lock()
	b := v.open
	if b == nil {
		b = &verifyBatch{done: make(chan struct{})}
		v.open = b
		go v.run(b)
	}
	b.waiters++
	v.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run closes b's window, then checks once for all who joined it. It runs
// on its own, not on a renewal's context: a renewal that gives up must not
// cancel the others' check.
func (v *verifyBatcher) run(b *verifyBatch) {
	v.wait()
	v.mu.Lock()
	v.open = nil
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	defer cancel()
	b.err = v.verify(ctx)
	close(b.done)
}

// pending is how many renewals wait in the open window (tests).
func (v *verifyBatcher) pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.open == nil {
		return 0
	}
	return v.open.waiters
}
