// Package metrics holds the resource usage an agent samples from its
// containers and its node: cumulative counters in a short in-memory window
// per container, turned into rates (CPU in millicores) and working sets
// (memory) the way the kubelet and metrics-server compute them. It is pure:
// the sampler that reads cgroups and NVML feeds it (agent/metrics.go), and
// the API and the Prometheus collector read it. Nothing here goes through
// the Raft log.
package metrics

import "time"

// Sample is one reading of a container's (or the node's) counters.
type Sample struct {
	At time.Time `json:"at"`
	// CPUNanos is the CPU time used since the cgroup (or the machine)
	// started: a counter, only its rate means something.
	CPUNanos uint64 `json:"cpuNanos"`
	// WorkingSet is the memory in use minus the inactive file cache
	// (the kubelet's working set), in bytes.
	WorkingSet int64 `json:"workingSet"`
}

// Usage is what a container (or node) uses over a window: CPU as a rate,
// memory as the latest working set.
type Usage struct {
	MilliCPU    int64 `json:"milliCPU"`
	MemoryBytes int64 `json:"memoryBytes"`
}

// Add returns u plus v (a pod's usage is the sum of its containers').
func (u Usage) Add(v Usage) Usage {
	return Usage{MilliCPU: u.MilliCPU + v.MilliCPU, MemoryBytes: u.MemoryBytes + v.MemoryBytes}
}

// Rate is the usage between two samples of one counter: the CPU time used
// between them over the wall time between them, in millicores, and the
// later working set. ok is false when it cannot be computed: the samples
// are not in order, or the counter went back (the container restarted
// with a fresh cgroup).
func Rate(prev, cur Sample) (u Usage, ok bool) {
	dt := cur.At.Sub(prev.At)
	if dt <= 0 || cur.CPUNanos < prev.CPUNanos {
		return Usage{}, false
	}
	// Rounded to the nearest millicore; the product stays in range for
	// any realistic span (2^64 ns of CPU is 584 years).
	used := float64(cur.CPUNanos - prev.CPUNanos)
	milli := used*1000/float64(dt) + 0.5
	return Usage{MilliCPU: int64(milli), MemoryBytes: max(cur.WorkingSet, 0)}, true
}

// Window holds the last samples of one counter, oldest first, at most
// Size of them.
type Window struct {
	samples []Sample
	size    int
}

// NewWindow returns a window that keeps size samples (at least 2, the
// fewest a rate needs).
func NewWindow(size int) *Window {
	return &Window{size: max(size, 2)}
}

// Add appends s. A sample not after the latest one is dropped (a clock
// step backwards); one whose CPU counter went back starts the window
// again, since rates across a restart mean nothing.
func (w *Window) Add(s Sample) {
	if n := len(w.samples); n > 0 {
		last := w.samples[n-1]
		if !s.At.After(last.At) {
			return
		}
		if s.CPUNanos < last.CPUNanos {
			w.samples = w.samples[:0]
		}
	}
	if len(w.samples) == w.size {
		copy(w.samples, w.samples[1:])
		w.samples = w.samples[:w.size-1]
	}
	w.samples = append(w.samples, s)
}

// Len is the number of samples held.
func (w *Window) Len() int { return len(w.samples) }

// Latest returns the newest sample.
func (w *Window) Latest() (Sample, bool) {
	if len(w.samples) == 0 {
		return Sample{}, false
	}
	return w.samples[len(w.samples)-1], true
}

// Usage is the usage over the last span: the rate between the newest
// sample and the oldest one within span of it. span 0 (or shorter than
// the sampling interval) means the last interval, as metrics-server
// reports. It returns the newest sample's time and the window actually
// covered; ok is false until two samples are held.
func (w *Window) Usage(span time.Duration) (u Usage, at time.Time, window time.Duration, ok bool) {
	n := len(w.samples)
	if n < 2 {
		return Usage{}, time.Time{}, 0, false
	}
	cur := w.samples[n-1]
	from := n - 2
	for i := n - 3; i >= 0 && cur.At.Sub(w.samples[i].At) <= span; i-- {
		from = i
	}
	prev := w.samples[from]
	u, ok = Rate(prev, cur)
	return u, cur.At, cur.At.Sub(prev.At), ok
}
