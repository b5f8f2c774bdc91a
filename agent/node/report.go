package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"shoal/cluster"
)

// reportTimeout bounds one ReportStatus call, so a leader that hangs does
// not stall reporting until the next election.
const reportTimeout = 30 * time.Second

// reporter batches status changes from every worker into ReportStatus
// calls: the first change opens a window of ReportInterval, and everything
// changed by its end goes in one call. Workers only replace the latest
// status of their pod, so a slow or failing leader costs memory for one
// status per pod, never a blocked worker.
type reporter struct {
	node     string
	dst      Reporter
	interval time.Duration
	resync   time.Duration
	clock    Clock
	log      *slog.Logger
	wake     chan struct{}

	mu      sync.Mutex
	pending map[string]cluster.PodStatusUpdate // UID → latest status not yet sent
	sent    map[string]sentStatus              // UID → latest status the leader took
	// sending is set while a batch is with the leader: the state may show
	// its statuses before sent does, and recheck would then take the new
	// state for a lost report and send the older status over it.
	sending bool
}

type sentStatus struct {
	status cluster.PodStatus
	at     time.Time
}

func newReporter(node string, dst Reporter, interval, resync time.Duration, clock Clock, log *slog.Logger) *reporter {
	return &reporter{
		node: node, dst: dst, interval: interval, resync: resync, clock: clock, log: log,
		wake:    make(chan struct{}, 1),
		pending: map[string]cluster.PodStatusUpdate{},
		sent:    map[string]sentStatus{},
	}
}

// set records pod's latest status; it is sent unless it equals what was
// already sent.
func (r *reporter) set(ref cluster.PodRef, st cluster.PodStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.sent[ref.UID]; ok && statusEqual(s.status, st) {
		delete(r.pending, ref.UID)
		return
	}
	r.pending[ref.UID] = cluster.PodStatusUpdate{Ref: ref, Status: st.Clone()}
	poke(r.wake)
}

// forget drops a pod that left this node.
func (r *reporter) forget(uid string) {
	r.mu.Lock()
	delete(r.pending, uid)
	delete(r.sent, uid)
	r.mu.Unlock()
}

// recheck sends again a status the leader took but the state does not show
// after a resync interval (a report lost to a leader change, or the leader
// overwrote it): the node keeps saying what it sees until the state agrees,
// which is also how Stopped keeps being reported until the pod is deleted.
func (r *reporter) recheck(desired map[string]*cluster.Pod) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sending {
		return // the next resync looks again, with sent up to date
	}
	for uid, s := range r.sent {
		p := desired[uid]
		if p == nil {
			continue
		}
		if _, queued := r.pending[uid]; queued || now.Sub(s.at) < r.resync || statusEqual(s.status, p.Status) {
			continue
		}
		r.pending[uid] = cluster.PodStatusUpdate{Ref: p.Ref(), Status: s.status}
		poke(r.wake)
	}
}

func (r *reporter) run(ctx context.Context) {
	window := time.NewTimer(0)
	<-window.C
	wait := r.interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		// Let the window fill before sending.
		window.Reset(wait)
		select {
		case <-ctx.Done():
			window.Stop()
			return
		case <-window.C:
		}
		if r.flush(ctx) {
			wait = r.interval
			continue
		}
		// Keep the statuses and try again, backing off to the resync
		// interval so a node does not hammer a leader that is down.
		wait = min(2*wait, max(r.resync, r.interval))
		poke(r.wake)
	}
}

// flush sends every pending status in one call; it reports false when the
// call failed, the statuses then stay pending unless newer ones replaced
// them meanwhile.
func (r *reporter) flush(ctx context.Context) bool {
	r.mu.Lock()
	if len(r.pending) == 0 {
		r.mu.Unlock()
		return true
	}
	batch := make([]cluster.PodStatusUpdate, 0, len(r.pending))
	for _, u := range r.pending {
		batch = append(batch, u)
	}
	r.pending = map[string]cluster.PodStatusUpdate{}
	r.sending = true
	r.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, reportTimeout)
	began := time.Now()
	err := r.dst.ReportStatus(cctx, r.node, batch)
	cancel()
	r.log.Debug("reported pod statuses", "pods", len(batch), "took", time.Since(began), "ok", err == nil)

	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sending = false
	for _, u := range batch {
		if err == nil {
			r.sent[u.Ref.UID] = sentStatus{status: u.Status, at: now}
			continue
		}
		if _, newer := r.pending[u.Ref.UID]; !newer {
			r.pending[u.Ref.UID] = u
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("reporting pod status", "pods", len(batch), "err", err)
		}
		return false
	}
	return true
}

// statusEqual compares statuses as the leader would store them: times by
// instant (a round trip through JSON drops the monotonic reading and the
// location).
func statusEqual(a, b cluster.PodStatus) bool {
	if a.Phase != b.Phase || a.Reason != b.Reason || a.Message != b.Message ||
		a.PodIP != b.PodIP || a.HostIP != b.HostIP || a.Ready != b.Ready ||
		a.Stopped != b.Stopped || !a.StartedAt.Equal(b.StartedAt) ||
		a.VolumesFetched != b.VolumesFetched ||
		a.Resizing != b.Resizing || a.ResizeMessage != b.ResizeMessage ||
		len(a.Containers) != len(b.Containers) {
		return false
	}
	for i := range a.Containers {
		x, y := a.Containers[i], b.Containers[i]
		xs, ys := x.StartedAt, y.StartedAt
		xf, yf := x.FinishedAt, y.FinishedAt
		x.StartedAt, y.StartedAt, x.FinishedAt, y.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if x != y || !xs.Equal(ys) || !xf.Equal(yf) {
			return false
		}
	}
	return true
}
