package poll

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeTB records failures instead of ending the test, so that a timeout
// can be checked. Until calls only Helper and Fatalf; the embedded nil TB
// panics on anything else, as a test of that should.
type fakeTB struct {
	testing.TB
	failures []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failures = append(f.failures, fmt.Sprintf(format, args...))
}

// counter is a condition that holds from call holdsAt on (never when 0),
// giving "call N" as its reason until then, or no reason if quiet.
type counter struct {
	holdsAt int
	quiet   bool
	calls   int
}

func (c *counter) cond() (bool, string) {
	c.calls++
	if c.holdsAt > 0 && c.calls >= c.holdsAt {
		return true, ""
	}
	if c.quiet {
		return false, ""
	}
	return false, fmt.Sprint("call ", c.calls)
}

func TestUntil(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		cond    counter
		// want is the failure, "" for none; %d stands for the number of
		// calls, so the reason shown must be the last one.
		want string
	}{
		{"holds at once", time.Second, counter{holdsAt: 1}, ""},
		{"holds on the third call", time.Second, counter{holdsAt: 3}, ""},
		{"timeout shows the last reason", 30 * time.Millisecond, counter{}, "timed out after 30ms waiting for the thing: call %d"},
		{"timeout without a reason", 30 * time.Millisecond, counter{quiet: true}, "timed out after 30ms waiting for the thing"},
		{"no time still checks once", 0, counter{}, "timed out after 0s waiting for the thing: call %d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := &fakeTB{}
			Until(tb, tc.timeout, "the thing", tc.cond.cond)
			var want []string
			if tc.want != "" {
				want = []string{strings.ReplaceAll(tc.want, "%d", strconv.Itoa(tc.cond.calls))}
			}
			if fmt.Sprint(tb.failures) != fmt.Sprint(want) {
				t.Errorf("failures %q, want %q", tb.failures, want)
			}
			switch {
			case tc.cond.holdsAt > 0 && tc.cond.calls != tc.cond.holdsAt:
				t.Errorf("%d calls, want %d", tc.cond.calls, tc.cond.holdsAt)
			case tc.timeout > 0 && tc.cond.holdsAt == 0 && tc.cond.calls < 3:
				t.Errorf("only %d calls in %v", tc.cond.calls, tc.timeout)
			case tc.timeout == 0 && tc.cond.calls != 1:
				t.Errorf("%d calls with no time, want 1", tc.cond.calls)
			}
		})
	}
}

func TestWait(t *testing.T) {
	const timeout = 20 * time.Millisecond
	for _, tc := range []struct {
		name   string
		cond   counter
		ok     bool
		reason string // %d stands for the number of calls
	}{
		{"holds", counter{holdsAt: 2}, true, ""},
		{"never holds", counter{}, false, "call %d"},
		{"never holds, quietly", counter{quiet: true}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := Wait(timeout, tc.cond.cond)
			want := strings.ReplaceAll(tc.reason, "%d", strconv.Itoa(tc.cond.calls))
			if ok != tc.ok || why != want {
				t.Errorf("Wait = %v, %q; want %v, %q", ok, why, tc.ok, want)
			}
		})
	}
}

func TestBool(t *testing.T) {
	for _, held := range []bool{false, true} {
		if ok, why := Bool(func() bool { return held })(); ok != held || why != "" {
			t.Errorf("Bool of %v = %v, %q", held, ok, why)
		}
	}
}

func TestPause(t *testing.T) {
	for _, tc := range []struct {
		waited, left, want time.Duration
	}{
		{0, time.Minute, time.Millisecond},
		{2 * time.Millisecond, time.Minute, time.Millisecond},
		{40 * time.Millisecond, time.Minute, 10 * time.Millisecond},
		{800 * time.Millisecond, time.Minute, 200 * time.Millisecond},
		{time.Hour, time.Minute, 200 * time.Millisecond},
		{time.Second, 3 * time.Millisecond, 3 * time.Millisecond},
		{0, 100 * time.Microsecond, 100 * time.Microsecond},
	} {
		if got := pause(tc.waited, tc.left); got != tc.want {
			t.Errorf("pause(%v, %v) = %v, want %v", tc.waited, tc.left, got, tc.want)
		}
	}
}
