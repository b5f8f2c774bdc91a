package scheduler

import (
	"maps"
	"slices"
	"time"

	"shoal/cluster"
)

// DefaultFullEvery is how often a Tracker runs a full pass although the
// change feed says what changed: the safety net for anything the feed or a
// wake-up might miss.
const DefaultFullEvery = 30 * time.Second

// Tracker is the leader's memory between passes: the state the last pass
// read, the wake-ups it asked for and the fencing it saw. With it each pass
// costs what changed: nothing at all when nothing did. The leader keeps one
// per term (a new leader starts with a full pass). It is not safe for
// concurrent use.
type Tracker struct {
	// FullEvery spaces the safety-net full passes (0: DefaultFullEvery;
	// negative: only when the change feed cannot tell).
	FullEvery time.Duration

	ready     bool // a pass ran and its plan was committed (or was empty)
	last      uint64
	lastFull  time.Time
	wakes     map[string]time.Time
	fenced    map[string]bool
	down      map[string]bool
	downAt    uint64
	downReady bool
}

// Down returns the nodes that are Down in st, by name, keeping track from
// the change feed so that it needs no walk of every node each time.
func (t *Tracker) Down(st *cluster.State) []string {
	var ch *cluster.Changes
	ok := false
	if t.downReady {
		ch, ok = st.ChangesSince(t.downAt)
	}
	if !ok {
		t.down = map[string]bool{}
		for _, n := range st.Nodes() {
			if n.Status == cluster.NodeDown {
				t.down[n.Name] = true
			}
		}
	} else {
		for name := range ch.Nodes {
			n, ok := st.Node(name)
			if ok && n.Status == cluster.NodeDown {
				t.down[name] = true
			} else {
				delete(t.down, name)
			}
		}
	}
	t.downAt, t.downReady = st.Index(), true
	return slices.Sorted(maps.Keys(t.down))
}

// Invalidate makes the next pass a full one: the leader calls it when a
// plan failed to commit or parts of it were refused, since the change feed
// then does not show what the pass meant to do.
func (t *Tracker) Invalidate() { t.ready = false }

// Pass runs the pass st needs at now: a full one first, after Invalidate,
// when the change feed cannot tell, or FullEvery after the last full one;
// otherwise one restricted to what changed since the last pass, to the
// workloads whose wake-up came and to the nodes whose fencing changed; none
// at all (ran false) when there is nothing of the sort. The caller commits
// the plan before the next call.
func (t *Tracker) Pass(o Options, st *cluster.State, now time.Time, ids IDSource) (res Result, ran bool) {
	every := t.FullEvery
	if every == 0 {
		every = DefaultFullEvery
	}
	full := !t.ready || (every > 0 && now.Sub(t.lastFull) >= every)
	var sc *Scope
	if !full {
		ch, ok := st.ChangesSince(t.last)
		if !ok {
			full = true
		} else {
			sc = &Scope{Changes: ch, Due: t.due(now), Nodes: t.fencingChanged(o.Fenced)}
			if ch.Empty() && len(sc.Due) == 0 && len(sc.Nodes) == 0 {
				t.last = st.Index()
				return Result{Plan: &cluster.Plan{}}, false
			}
		}
	}
	res = o.Run(st, now, ids, sc)
	if res.Full {
		t.wakes, t.lastFull = res.Wake, now
	} else {
		for _, k := range sc.Due {
			delete(t.wakes, k) // reconciled below, or gone
		}
		for _, k := range res.Reconciled {
			delete(t.wakes, k)
		}
		if t.wakes == nil {
			t.wakes = map[string]time.Time{}
		}
		maps.Copy(t.wakes, res.Wake)
	}
	t.fenced = maps.Clone(o.Fenced)
	t.last, t.ready = st.Index(), true
	return res, true
}

// NextWake is the earliest wake-up asked for (zero when none), so that the
// leader sleeps until then at most.
func (t *Tracker) NextWake() time.Time {
	var next time.Time
	for _, w := range t.wakes {
		if next.IsZero() || w.Before(next) {
			next = w
		}
	}
	return next
}

// due returns the workloads whose wake-up came, in key order.
func (t *Tracker) due(now time.Time) []string {
	var out []string
	for k, w := range t.wakes {
		if !w.After(now) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// fencingChanged returns the nodes whose fencing differs from the last
// pass's.
func (t *Tracker) fencingChanged(now map[string]bool) []string {
	var out []string
	for n, f := range now {
		if f != t.fenced[n] {
			out = append(out, n)
		}
	}
	for n, f := range t.fenced {
		if f && !now[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
