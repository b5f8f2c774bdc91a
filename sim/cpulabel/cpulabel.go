// Package cpulabel splits one process's CPU among the simulated agents
// or members it runs. Each runs its goroutines under a label (Do):
// goroutines inherit the labels of the one that starts them, so
// everything a member starts (raft's goroutines, its transport's, its
// servers') carries it, and the CPU profiler's samples, summed by label
// (Sampler.Stop), give each member's share.
package cpulabel

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
)

// Do runs f with label key=value set, so that what f starts carries it.
// The calling goroutine has no labels afterwards: call it from one that
// has none of its own (Go starts a goroutine from anywhere).
func Do(key, value string, f func()) {
	pprof.Do(context.Background(), pprof.Labels(key, value), func(context.Context) { f() })
}

// Go runs f in a new goroutine labelled key=value alone, whatever the
// caller's labels: what a member calls back into the simulation with is
// then not counted as the member's.
func Go(key, value string, f func()) {
	go func() {
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(key, value)))
		f()
	}()
}

// Sampler profiles the process's CPU over a window.
type Sampler struct {
	buf bytes.Buffer
	on  bool
}

// Start starts the CPU profiler; when it cannot (already on, as under go
// test -cpuprofile), Stop returns nothing.
func Start() *Sampler {
	s := &Sampler{}
	s.on = pprof.StartCPUProfile(&s.buf) == nil
	return s
}

// Stop ends the profile and returns the CPU time sampled per value of
// key ("" for goroutines without it); nil when the profiler was not on.
func (s *Sampler) Stop(key string) (map[string]time.Duration, error) {
	if !s.on {
		return nil, nil
	}
	pprof.StopCPUProfile()
	p, err := profile.Parse(bytes.NewReader(s.buf.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("read the CPU profile: %w", err)
	}
	return byLabel(p, key), nil
}

// Profile is the profile Stop ended, in pprof's format (empty before).
func (s *Sampler) Profile() []byte { return s.buf.Bytes() }

// byLabel sums a CPU profile's samples by the value of label key.
func byLabel(p *profile.Profile, key string) map[string]time.Duration {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
		}
	}
	out := map[string]time.Duration{}
	if idx < 0 {
		return out
	}
	for _, smp := range p.Sample {
		v := ""
		if l := smp.Label[key]; len(l) > 0 {
			v = l[0]
		}
		out[v] += time.Duration(smp.Value[idx])
	}
	return out
}

// Process is the CPU time (user and system) this process used so far.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
