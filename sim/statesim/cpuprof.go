package statesim

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/google/pprof/profile"
)

// Every goroutine of a member (raft's, its transport's, its stream
// server's) carries the label roleLabel=<member id>: goroutines inherit
// the labels of the one that starts them, and each member is opened and
// served under its own. The CPU profiler's samples then split the shared
// process's CPU by member.
const roleLabel = "role"

// withRole runs f with the role label set, so that what it starts
// carries it.
func withRole(role string, f func()) {
	pprof.Do(context.Background(), pprof.Labels(roleLabel, role), func(context.Context) { f() })
}

// cpuSampler profiles the process's CPU over a window.
type cpuSampler struct {
	buf bytes.Buffer
	on  bool
}

// startSampling starts the CPU profiler; when it cannot (already on, as
// under go test -cpuprofile), stop returns nothing.
func startSampling() *cpuSampler {
	s := &cpuSampler{}
	s.on = pprof.StartCPUProfile(&s.buf) == nil
	return s
}

// stop ends the profile and returns the CPU time sampled per role label
// ("" for goroutines without one).
func (s *cpuSampler) stop() (map[string]time.Duration, error) {
	if !s.on {
		return nil, nil
	}
	pprof.StopCPUProfile()
	p, err := profile.Parse(&s.buf)
	if err != nil {
		return nil, fmt.Errorf("statesim: read the CPU profile: %w", err)
	}
	return cpuByRole(p), nil
}

// cpuByRole sums a CPU profile's samples by role label.
func cpuByRole(p *profile.Profile) map[string]time.Duration {
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
		role := ""
		if v := smp.Label[roleLabel]; len(v) > 0 {
			role = v[0]
		}
		out[role] += time.Duration(smp.Value[idx])
	}
	return out
}
