package autopilot

import (
	"sync"
	"time"
)

// Fencing lease defaults. The margin absorbs the rate difference between
// two machines' clocks over one lease and the time an agent takes to stop
// its StatefulSet pods once its lease runs out.
const (
	DefaultLease       = 10 * time.Second
	DefaultLeaseMargin = 5 * time.Second
)

// Fencing keeps at most one copy of a StatefulSet pod running. Each agent
// renews its lease through the leader; an agent whose lease has run out
// stops its StatefulSet pods (Holder), and the leader reschedules a node's
// StatefulSet pods only once that node's lease has surely run out (Leases).
//
// Only durations measured on one machine's clock are ever compared: the
// leader compares its own renewal times with its own now, the agent its own
// send times with its own now. Timestamps never cross machines, so clock
// offsets do not matter; pass time.Now() values, whose monotonic reading
// also makes wall-clock steps harmless.

// Leases is the leader's record of renewals. It is safe for concurrent use:
// renewals arrive on HTTP handlers while the scheduling loop asks which
// leases have expired.
type Leases struct {
	lease, margin time.Duration
	electedAt     time.Time

	mu      sync.Mutex
	renewed map[string]time.Time // node → latest renewal, leader's clock
}

// NewLeases returns the record of a leader elected at electedAt. A lease or
// margin of zero or less takes the default.
func NewLeases(lease, margin time.Duration, electedAt time.Time) *Leases {
	if lease <= 0 {
		lease = DefaultLease
	}
	if margin <= 0 {
		margin = DefaultLeaseMargin
	}
	return &Leases{lease: lease, margin: margin, electedAt: electedAt, renewed: map[string]time.Time{}}
}

// Renew records that node renewed its lease at now. A renewal older than
// one already recorded (two handlers racing) does not move it back.
func (l *Leases) Renew(node string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.renewed[node]) {
		l.renewed[node] = now
	}
}

// Forget drops a node's record, for a node removed from the cluster. A
// forgotten node's lease counts from the election again, which only errs
// towards waiting longer.
func (l *Leases) Forget(node string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.renewed, node)
}

// Expired reports whether node's lease has surely run out: more than lease
// plus margin has passed since its last renewal seen by this leader, or
// since this leader's election if it saw none. Counting from the election
// covers renewals that the previous leader granted and this one never saw,
// provided no renewal is acknowledged after a newer election: the renew
// handler must confirm leadership with a quorum (raft VerifyLeader) before
// it answers, so a deposed leader that has not noticed yet cannot extend a
// lease that its successor is counting down.
func (l *Leases) Expired(node string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expired(node, now)
}

func (l *Leases) expired(node string, now time.Time) bool {
	from := l.electedAt
	if r := l.renewed[node]; r.After(from) {
		from = r
	}
	return now.Sub(from) > l.lease+l.margin
}

// ExpiredNodes reports Expired for each of nodes, under one lock.
func (l *Leases) ExpiredNodes(nodes []string, now time.Time) map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		out[n] = l.expired(n, now)
	}
	return out
}

// Holder is an agent's view of its own lease. It is safe for concurrent
// use: the renewal loop records successes while the pod loop asks whether
// StatefulSet pods may keep running.
type Holder struct {
	lease time.Duration

	mu     sync.Mutex
	sentOK time.Time // when the latest successful renewal was sent
}

// NewHolder returns a holder with no lease yet (not Valid until the first
// renewal succeeds). A lease of zero or less takes the default; it must be
// the leader's lease length.
func NewHolder(lease time.Duration) *Holder {
	if lease <= 0 {
		lease = DefaultLease
	}
	return &Holder{lease: lease}
}

// Renewed records a successful renewal whose request was sent at sentAt,
// on this agent's clock.
//
// The send time, not the time the answer arrived, is the conservative
// choice. The leader records the renewal at some moment after the request
// left, so sentAt + lease on this clock comes no later than the leader's
// renewal + lease on its clock, and the leader waits a margin beyond that.
// Counting from the answer's arrival would stretch this agent's lease by
// the round trip, and an answer delayed for longer than the margin (a
// stalled connection, a paused process) would leave this agent running its
// StatefulSet pods after the leader had started them elsewhere.
func (h *Holder) Renewed(sentAt time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Answers to overlapping requests may arrive out of order; only the
	// latest send extends the lease.
	if sentAt.After(h.sentOK) {
		h.sentOK = sentAt
	}
}

// Valid reports whether the lease still holds at now: less than lease has
// passed since the latest successful renewal was sent. When it does not,
// the agent must stop its StatefulSet pods.
func (h *Holder) Valid(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.sentOK.IsZero() && now.Sub(h.sentOK) < h.lease
}
