package cluster

import "time"

// Availability (minReadySeconds). A pod of a workload with
// MinReadySeconds counts as available only once it has been ready that
// long. Ready comes from its node; how long is judged by the leader alone
// (its scheduler's clock, never a node's): the leader stamps ReadySince
// when it first sees the pod ready and Available once the time has
// passed, through the plan (PodReadiness). The FSM clears both when the
// node reports the pod not ready. Every reader then counts available pods
// from the state, with no clock of its own.

// PodReadiness is one of the leader's availability stamps.
type PodReadiness struct {
	Pod        PodRef    `json:"pod"`
	ReadySince time.Time `json:"readySince"`
	Available  bool      `json:"available,omitempty"`
}

// PodAvailable reports whether pod p of w counts as available: ready,
// and, with minReadySeconds, ready for that long.
func (w *Workload) PodAvailable(p *Pod) bool {
	if w.MinReadySeconds <= 0 {
		return p.Ready()
	}
	return p.Ready() && p.Available
}

// MinReady is w's minReadySeconds as a duration.
func (w *Workload) MinReady() time.Duration { return time.Duration(w.MinReadySeconds) * time.Second }

// ClearReadiness forgets the leader's stamps of a pod that is not ready
// (any more); it reports whether there were any.
func (p *Pod) ClearReadiness() bool {
	if p.Ready() || (p.ReadySince.IsZero() && !p.Available) {
		return false
	}
	p.ReadySince, p.Available = time.Time{}, false
	return true
}
