package agent

import (
	"context"
	"log/slog"
	"time"
)

// lifecycle stops what an agent started, in reverse: every part pushes
// its stop as it starts, so each part stops before what it depends on.
type lifecycle struct {
	ctx   context.Context
	log   *slog.Logger
	stops []func()
}

func (l *lifecycle) onStop(fn func()) { l.stops = append(l.stops, fn) }

// loop runs fn until the agent stops.
func (l *lifecycle) loop(fn func(context.Context)) {
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	l.onStop(func() { cancel(); <-done })
}

// shutdown runs the stops, each bounded: a step stuck on a peer that is
// unreachable (a cut link) must not keep the agent from exiting; its pods
// and state are safe either way.
func (l *lifecycle) shutdown() {
	for i := len(l.stops) - 1; i >= 0; i-- {
		done := make(chan struct{})
		start := time.Now()
		go func() { defer close(done); l.stops[i]() }()
		select {
		case <-done:
			if d := time.Since(start); d > 2*time.Second {
				l.log.Warn("slow shutdown step", "step", i, "took", d.Round(time.Millisecond))
			}
		case <-time.After(10 * time.Second):
			l.log.Error("shutdown step did not finish in 10s; going on without it", "step", i)
		}
	}
}
