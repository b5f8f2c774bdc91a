package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// gatedVerifier is a leadership check under the test's control: each
// window closes when the test says so, and each check returns err.
type gatedVerifier struct {
	windows chan struct{} // one receive per window
	checks  atomic.Int32
	// started has a check's number once it started; release lets it end.
	started chan int32
	release chan struct{}
	err     error
}

func newGatedVerifier(err error) (*gatedVerifier, *verifyBatcher) {
	g := &gatedVerifier{windows: make(chan struct{}), started: make(chan int32, 16), release: make(chan struct{}), err: err}
	b := &verifyBatcher{timeout: time.Minute, wait: func() { <-g.windows },
		verify: func(context.Context) error {
			g.started <- g.checks.Add(1)
			<-g.release
			return g.err
		}}
	return g, b
}

// untilPending waits until n renewals wait in b's open window.
func untilPending(t *testing.T, b *verifyBatcher, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool { return b.pending() == n })
}

func TestVerifyBatcherSharesOneCheckPerWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"leader", nil},
		{"deposed", errors.New("not the leader")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, b := newGatedVerifier(tc.err)
			const renewals = 20
			errs := make(chan error, renewals)
			for range renewals {
				go func() { errs <- b.Verify(context.Background()) }()
			}
			untilPending(t, b, renewals)
			g.windows <- struct{}{}
			<-g.started
			close(g.release)
			for range renewals {
				if err := <-errs; !errors.Is(err, tc.err) {
					t.Fatalf("a renewal got %v, want %v", err, tc.err)
				}
			}
			if got := g.checks.Load(); got != 1 {
				t.Fatalf("%d renewals in one window made %d checks, want 1", renewals, got)
			}
		})
	}
}

// A check under way when a renewal arrives may have started before the
// leader was deposed: the renewal must wait for a check of its own.
func TestVerifyBatcherRenewalDuringCheckWaitsForTheNext(t *testing.T) {
	g, b := newGatedVerifier(nil)
	first := make(chan error, 1)
	go func() { first <- b.Verify(context.Background()) }()
	untilPending(t, b, 1)
	g.windows <- struct{}{}
	if n := <-g.started; n != 1 {
		t.Fatalf("check %d started, want 1", n)
	}
	// Check 1 is under way: a renewal now opens window 2.
	second := make(chan error, 1)
	go func() { second <- b.Verify(context.Background()) }()
	untilPending(t, b, 1)
	g.release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-g.started:
		t.Fatalf("check %d started before the second window closed", n)
	case err := <-second:
		t.Fatalf("the second renewal returned (%v) before a check of its own", err)
	default:
	}
	g.windows <- struct{}{}
	if n := <-g.started; n != 2 {
		t.Fatalf("check %d started, want 2", n)
	}
	g.release <- struct{}{}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

// A renewal that gives up does not cancel the check the others wait for.
func TestVerifyBatcherCallerGivesUp(t *testing.T) {
	g, b := newGatedVerifier(nil)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- b.Verify(ctx) }()
	stays := make(chan error, 1)
	go func() { stays <- b.Verify(context.Background()) }()
	untilPending(t, b, 2)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("the renewal that gave up got %v, want context.Canceled", err)
	}
	g.windows <- struct{}{}
	<-g.started
	close(g.release)
	if err := <-stays; err != nil {
		t.Fatalf("the other renewal got %v", err)
	}
}
