package agent

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"shoal/internal/poll"
)

// unitRecorder counts how often leader units ran and how many run now.
type unitRecorder struct {
	mu               sync.Mutex
	elected, started int
	running          int
	stopped          int
}

func (r *unitRecorder) unit(ctx context.Context) {
	r.mu.Lock()
	r.started++
	r.running++
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.running--
	r.stopped++
	r.mu.Unlock()
}

func (r *unitRecorder) get() (elected, started, running, stopped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.elected, r.started, r.running, r.stopped
}

func TestLeadershipStartsAndStopsUnits(t *testing.T) {
	for _, tc := range []struct {
		name string
		// changes are delivered one at a time, each after the units
		// have settled.
		changes []bool
		// after all changes: terms begun, unit runs started, running now
		elected, started, running int
	}{
		{name: "never leads", changes: nil, elected: 0, started: 0, running: 0},
		{name: "gains", changes: []bool{true}, elected: 1, started: 2, running: 2},
		{name: "gains then loses", changes: []bool{true, false}, elected: 1, started: 2, running: 0},
		{name: "loses, gains again", changes: []bool{true, false, true}, elected: 2, started: 4, running: 2},
		// Two "true" in a row: the channel squashed a loss in between, so
		// the units restart for the new term.
		{name: "squashed loss restarts the term", changes: []bool{true, true}, elected: 2, started: 4, running: 2},
		{name: "false when not leading is a no-op", changes: []bool{false, false}, elected: 0, started: 0, running: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &unitRecorder{}
			ch := make(chan bool)
			l := &leadership{
				changes: ch,
				elected: []func(time.Time){func(time.Time) { rec.mu.Lock(); rec.elected++; rec.mu.Unlock() }},
				units:   []leaderUnit{{"a", rec.unit}, {"b", rec.unit}},
				log:     slog.New(slog.DiscardHandler),
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); l.run(ctx) }()
			for _, v := range tc.changes {
				ch <- v
				// The watcher stops (and waits for) a term's units before
				// it starts the next, so once it takes the next value the
				// previous one has been acted on.
			}
			poll.Until(t, 5*time.Second, "units to settle", func() (bool, string) {
				e, s, r, _ := rec.get()
				return e == tc.elected && s == tc.started && r == tc.running, ""
			})
			cancel()
			<-done
			if _, s, r, st := rec.get(); r != 0 || st != s {
				t.Errorf("after stop: %d running, %d of %d stopped", r, st, s)
			}
		})
	}
}
