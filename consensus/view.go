package consensus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"shoal/cluster"
)

// ServeView writes node's view of the state (cluster.State.View) to w
// after index since: a hello, the whole view when since cannot be
// described as a change (since 0, which a follower that holds no view
// asks for; one behind the change log; new settings), then a delta
// frame (cluster.Delta) whenever the state moves, and a beat when
// nothing else was sent for StreamBeatEvery. The view
// holds the pods of other nodes as summaries and a delta leaves out a
// pod whose summary did not change, or sends its status alone. It ends
// as ServeStream does.
func (s *Store) ServeView(ctx context.Context, since uint64, node string, w io.Writer, flush func() error) error {
	if node == "" {
		return errors.New("state stream: a view needs a node name")
	}
	if !s.serving() {
		return ErrNotMember
	}
	bw, enc, send := streamWriter(w, flush)
	st, changed, err := s.reach(ctx, since)
	if err != nil {
		return err
	}
	var d *cluster.Delta
	ok := false
	if since > 0 { // a follower at 0 holds nothing: the whole view, never a change from the start
		d, ok = st.DeltaSince(since, nil, node)
	}
	hello := s.beat(st.Index())
	hello.Snapshot, hello.View = !ok, node
	if err := encodeFrame(enc, frameHello, hello); err != nil {
		return fmt.Errorf("state stream: send hello: %w", err)
	}
	if err := sendView(enc, st, d, node); err != nil {
		return err
	}
	servers := hello.Servers
	tick := time.NewTicker(StreamBeatEvery)
	defer tick.Stop()
	for {
		if err := send(); err != nil {
			return fmt.Errorf("state stream: flush view at %d: %w", st.Index(), err)
		}
		beat, err := s.await(ctx, changed, tick.C)
		if err != nil {
			return err
		}
		if beat {
			if err := s.sendBeat(enc, st.Index(), &servers); err != nil {
				return err
			}
			continue
		}
		prev := st
		st, changed = s.fsm.current()
		if st.Index() == prev.Index() {
			continue // the CA key came back: not part of a view
		}
		if err := s.sendViewChange(bw, enc, prev, st, node); err != nil {
			return err
		}
		tick.Reset(StreamBeatEvery)
	}
}

// reach waits until this member's state is at index since or past it,
// and returns it: a follower that comes from a member further along
// would skip a whole view older than its own. It gives up after
// StreamSilence.
func (s *Store) reach(ctx context.Context, since uint64) (*cluster.State, <-chan struct{}, error) {
	st, changed := s.fsm.current()
	if st.Index() >= since {
		return st, changed, nil
	}
	behind := time.NewTimer(StreamSilence)
	defer behind.Stop()
	for st.Index() < since {
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-s.done:
			return nil, nil, ErrClosed
		case <-behind.C:
			return nil, nil, fmt.Errorf("state stream: the follower is at %d, this member at %d", since, st.Index())
		case <-changed:
			st, changed = s.fsm.current()
		}
	}
	return st, changed, nil
}

// sendViewChange writes how node's view changed from prev to st: the
// delta shared by the view followers of other nodes when node had no
// pod in the change, else its own, else (the change log does not reach
// back, new settings) a hello and the whole view.
func (s *Store) sendViewChange(bw *bufio.Writer, enc *codec.Encoder, prev, st *cluster.State, node string) error {
	if frame, nodes, ok := s.views.shared(prev, st); ok && !nodes[node] {
		if _, err := bw.Write(frame); err != nil {
			return fmt.Errorf("state stream: send %s's view %d..%d: %w", node, prev.Index(), st.Index(), err)
		}
		return nil
	}
	d, ok := st.DeltaSince(prev.Index(), prev, node)
	if !ok {
		b := s.beat(st.Index())
		b.Snapshot, b.View, b.Servers = true, node, nil
		if err := encodeFrame(enc, frameHello, b); err != nil {
			return fmt.Errorf("state stream: send hello: %w", err)
		}
	}
	return sendView(enc, st, d, node)
}

// viewShare is the delta a member last made for the views it serves
// (cluster.State.SharedDelta), encoded once as a frame: every view
// follower moving from since to index whose node had no pod in the
// change is sent these bytes, so a change costs each of them a write,
// not a delta of its own.
type viewShare struct {
	mu           sync.Mutex
	since, index uint64
	nodes        map[string]bool
	frame        []byte
}

// shared returns the frame of the delta from prev to st and the nodes
// it does not do for; ok is false when there is none (the change log
// does not reach back, new settings).
func (v *viewShare) shared(prev, st *cluster.State) (frame []byte, nodes map[string]bool, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.frame != nil && v.since == prev.Index() && v.index == st.Index() {
		return v.frame, v.nodes, true
	}
	d, nodes, ok := st.SharedDelta(prev.Index(), prev)
	if !ok {
		return nil, nil, false
	}
	var buf bytes.Buffer
	if err := sendView(codec.NewEncoder(&buf, mh), st, d, ""); err != nil {
		return nil, nil, false // the caller makes its own
	}
	v.since, v.index, v.nodes, v.frame = prev.Index(), st.Index(), nodes, buf.Bytes()
	return v.frame, nodes, true
}

// sendView writes d, or node's whole view of st when d is nil, without
// the CA key.
func sendView(enc *codec.Encoder, st *cluster.State, d *cluster.Delta, node string) error {
	if d == nil {
		err := encodeSnapshotPods(enc, withoutCAKey(st), func(p *cluster.Pod) *cluster.Pod { return cluster.ViewPod(p, node) }, st.ViewHolds(node))
		if err != nil {
			return fmt.Errorf("state stream: send %s's view at %d: %w", node, st.Index(), err)
		}
		return nil
	}
	if d.Trust != nil && d.Trust.CAKey != "" {
		tr := *d.Trust
		tr.CAKey = ""
		d.Trust = &tr
	}
	if err := encodeFrame(enc, frameDelta, d); err != nil {
		return fmt.Errorf("state stream: send %s's view %d..%d: %w", node, d.Since, d.Index, err)
	}
	return nil
}

// HoldsView reports whether this agent's state is a node's view from
// ServeView's stream (not the whole state): a follower asks for the whole
// view again (since 0) when it does not.
func (s *Store) HoldsView() bool { return s.fsm.view.Load() }

// ViewsAllowed reports whether this agent may follow a node's view: its
// Raft has never held or been fed anything (an agent that was a member
// keeps following the whole state).
func (s *Store) ViewsAllowed() bool { return s.fsm.viewsAllowed() }

// current returns the state and a channel closed at its next change.
func (f *fsm) current() (*cluster.State, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.Load(), f.changed
}

// applyDelta applies one change of a view stream to the view this agent
// holds.
func (f *fsm) applyDelta(d *cluster.Delta, node string) error {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if !f.view.Load() {
		return fmt.Errorf("a view's change %d..%d: this agent holds no view", d.Since, d.Index)
	}
	cur := f.state.Load()
	if d.Index == cur.Index() && d.Since == cur.Index() {
		return nil
	}
	next, err := cur.ApplyDelta(d, node)
	if err != nil {
		return err
	}
	f.publish(next, nil)
	return nil
}
