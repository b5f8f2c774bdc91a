// Package poll waits for a condition in tests: never sleep and hope.
//
// A condition reports whether it holds and, when it does not, why: the
// last reason is what a timeout shows, so a failure says what was still
// missing rather than only that time ran out.
package poll

import (
	"testing"
	"time"
)

// Until polls cond until it holds. After timeout it fails t with what and
// cond's last reason; cond is always checked once more at the deadline.
func Until(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	ok, why := Wait(timeout, cond)
	switch {
	case ok:
	case why == "":
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	default:
		t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
	}
}

// Wait is Until for code that must not fail the test, such as a cleanup:
// it reports whether cond held within timeout and, if not, its last reason.
func Wait(timeout time.Duration, cond func() (bool, string)) (bool, string) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return true, ""
		}
		now := time.Now()
		if !now.Before(deadline) {
			return false, why
		}
		time.Sleep(pause(now.Sub(start), deadline.Sub(now)))
	}
}

// Bool adapts a condition that has no reason to give.
func Bool(cond func() bool) func() (bool, string) {
	return func() (bool, string) { return cond(), "" }
}

const (
	minPause = time.Millisecond
	maxPause = 200 * time.Millisecond
)

// pause is how long to sleep after waiting for waited with left to go: a
// quarter of the time waited, so a condition that holds soon is seen within
// a millisecond or two, while one that takes long, often an expensive one
// (a CLI call, a network round trip), runs at most a few times a second.
// It never sleeps past the deadline, where cond gets its last check.
func pause(waited, left time.Duration) time.Duration {
	return min(max(waited/4, minPause), maxPause, left)
}
