package consensus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"shoal/cluster"
)

// The state stream carries a member's state to an agent outside Raft (or
// one cut off from its leader): a hello, a snapshot when the member's feed
// no longer reaches back to the follower's index, then every committed
// entry as it is applied, and a beat whenever nothing else was sent for
// StreamBeatEvery. Frames are (type, value) msgpack pairs, as in
// snapshots. The follower applies the entries with the same FSM code as a
// member, so its State is the member's, index for index.
const (
	frameHello   uint8 = iota + 1 // StreamBeat, then a snapshot if Snapshot
	frameEntries                  // []Entry
	frameBeat                     // StreamBeat
	frameDelta                    // cluster.Delta: a view's change (view.go)
)

// StreamBeatEvery is how often an idle stream says it is alive; a follower
// that hears nothing for StreamSilence gives up on its member.
const (
	StreamBeatEvery = time.Second
	StreamSilence   = 5 * StreamBeatEvery
)

// ErrNotMember is returned by ServeStream on an agent that is not a live
// Raft member: it has no committed log of its own to serve.
var ErrNotMember = errors.New("not a live raft member: the state stream is served by the voters and replicas")

// ErrFollowerBehind ends a stream whose follower reads more slowly than
// entries are committed, past what the feed keeps: it reconnects and
// catches up from a snapshot.
var ErrFollowerBehind = errors.New("state stream follower fell behind the feed")

// StreamBeat is what a member tells its followers besides the entries:
// where its state is, who leads, and who the Raft members are (so the
// follower can forward writes and fail over). Servers is sent in the hello
// and then only when it changed.
type StreamBeat struct {
	Index      uint64   `json:"index"`
	LeaderID   string   `json:"leaderID,omitempty"`
	LeaderAddr string   `json:"leaderAddr,omitempty"`
	Servers    []Server `json:"servers,omitempty"`
	// Snapshot, in a hello only: a snapshot follows.
	Snapshot bool `json:"snapshot,omitempty"`
	// View, in a hello only: the stream carries this node's view of the
	// state (deltas, see ServeView), not the log's entries.
	View string `json:"view,omitempty"`
}

// RaftLive reports whether this agent takes part in Raft now: it leads, or
// it follows a leader that was heard from lately. An agent that is not in
// the Raft configuration, or cut off from the leader, is not live and
// follows the state stream instead.
func (s *Store) RaftLive() bool {
	switch s.raft.State() {
	case raft.Leader:
		return true
	case raft.Follower:
		last := s.raft.LastContact()
		return !last.IsZero() && time.Since(last) < s.liveWindow()
	}
	return false
}

// serving reports whether this agent serves the state stream: it is live
// in Raft and its state is whole (a promoted agent still shows the view
// it held while Raft rebuilds the whole state behind it).
func (s *Store) serving() bool { return s.RaftLive() && !s.HoldsView() }

func (s *Store) liveWindow() time.Duration {
	hb := s.cfg.HeartbeatTimeout
	if hb == 0 {
		hb = raft.DefaultConfig().HeartbeatTimeout
	}
	return max(3*hb, 2*time.Second)
}

// streamView is what this agent learnt from the stream it follows.
type streamView struct {
	mu                   sync.Mutex
	leaderID, leaderAddr string
	servers              []Server
	heard                time.Time // the last frame
	caughtUp             bool      // the state reached the member's index at hello
	following            bool
}

func (v *streamView) fresh() bool {
	return v.following && time.Since(v.heard) < StreamSilence
}

// StreamServers returns the Raft members: the configuration when this
// agent is live in Raft, else as the stream last named them.
func (s *Store) StreamServers() []Server {
	if s.RaftLive() {
		if srv, err := s.Servers(); err == nil {
			return srv
		}
	}
	s.stream.mu.Lock()
	defer s.stream.mu.Unlock()
	return slices.Clone(s.stream.servers)
}

func (s *Store) beat(index uint64) StreamBeat {
	addr, id := s.raft.LeaderWithID()
	b := StreamBeat{Index: index, LeaderID: string(id), LeaderAddr: string(addr)}
	b.Servers, _ = s.Servers()
	return b
}

// ServeStream writes the state stream after index since to w until ctx
// ends, this agent stops being a live member, the follower falls behind,
// or a write fails. flush, if set, pushes what was written to the
// follower. The caller bounds each write (a follower that stops reading
// must not hold the stream forever).
func (s *Store) ServeStream(ctx context.Context, since uint64, w io.Writer, flush func() error) error {
	if !s.serving() {
		return ErrNotMember
	}
	bw, enc, send := streamWriter(w, flush)
	st, ents, ok, changed := s.fsm.since(since)
	hello := s.beat(st.Index())
	hello.Snapshot = !ok
	if err := encodeFrame(enc, frameHello, hello); err != nil {
		return fmt.Errorf("state stream: send hello: %w", err)
	}
	next := since
	if !ok {
		if err := encodeSnapshot(enc, withoutCAKey(st)); err != nil {
			return fmt.Errorf("state stream: send snapshot at %d: %w", st.Index(), err)
		}
		next = st.Index()
	}
	servers := hello.Servers
	tick := time.NewTicker(StreamBeatEvery)
	defer tick.Stop()
	for {
		if len(ents) > 0 {
			if err := writeEntries(bw, ents); err != nil {
				return fmt.Errorf("state stream: send entries %d-%d: %w", ents[0].Index, ents[len(ents)-1].Index, err)
			}
			next = ents[len(ents)-1].Index
		}
		if err := send(); err != nil {
			return fmt.Errorf("state stream: flush at %d: %w", next, err)
		}
		ents = nil
		beat, err := s.await(ctx, changed, tick.C)
		if err != nil {
			return err
		}
		if beat {
			if err := s.sendBeat(enc, s.State().Index(), &servers); err != nil {
				return err
			}
		}
		_, ents, ok, changed = s.fsm.since(next)
		if !ok {
			return ErrFollowerBehind
		}
		tick.Reset(StreamBeatEvery)
	}
}

// streamWriter buffers a stream to w; send flushes the buffer, then
// flush if set.
func streamWriter(w io.Writer, flush func() error) (*bufio.Writer, *codec.Encoder, func() error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	send := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		if flush != nil {
			return flush()
		}
		return nil
	}
	return bw, codec.NewEncoder(bw, mh), send
}

// await waits for the state to change, for a beat's turn (beat), or for
// the stream to end (ctx, the store closing).
func (s *Store) await(ctx context.Context, changed <-chan struct{}, tick <-chan time.Time) (beat bool, err error) {
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.done:
		return false, ErrClosed
	case <-changed:
		return false, nil
	case <-tick:
		return true, nil
	}
}

// sendBeat writes a beat at index, naming the servers only when they
// are not the ones last sent; a member no longer live in Raft sends none
// and ends the stream with ErrNotMember.
func (s *Store) sendBeat(enc *codec.Encoder, index uint64, servers *[]Server) error {
	if !s.serving() {
		return ErrNotMember
	}
	b := s.beat(index)
	if slices.Equal(b.Servers, *servers) {
		b.Servers = nil
	} else {
		*servers = b.Servers
	}
	if err := encodeFrame(enc, frameBeat, b); err != nil {
		return fmt.Errorf("state stream: send beat: %w", err)
	}
	return nil
}

// writeEntries writes an entries frame of ents from their encodings, made
// once by the feed and shared by every stream: the same bytes encodeFrame
// would write for a []Entry.
func writeEntries(w *bufio.Writer, ents []fedEntry) error {
	// Appended into the writer's free space: a local array would escape
	// through Write and cost an allocation per frame and follower.
	if _, err := w.Write(appendEntriesHead(w.AvailableBuffer(), len(ents))); err != nil {
		return err
	}
	for _, e := range ents {
		if _, err := w.Write(e.wire); err != nil {
			return err
		}
	}
	return nil
}

func encodeFrame(enc *codec.Encoder, t uint8, v any) error {
	if err := enc.Encode(t); err != nil {
		return err
	}
	return enc.Encode(v)
}

// Follow applies the state stream read from r to this agent's state until
// the stream ends or fails, and returns why. The entries are the same
// committed log raft applies, so Follow may run while raft also feeds the
// state (an agent being promoted): whichever source comes second skips
// what the first applied. A silent stream is the caller's to cut (close r
// after StreamSilence without progress; Heard tells).
func (s *Store) Follow(ctx context.Context, r io.Reader) error {
	dec := codec.NewDecoder(bufio.NewReaderSize(r, 64<<10), mh)
	s.stream.mu.Lock()
	s.stream.following, s.stream.caughtUp = true, false
	s.stream.mu.Unlock()
	defer func() {
		s.stream.mu.Lock()
		s.stream.following, s.stream.caughtUp = false, false
		s.stream.mu.Unlock()
	}()
	var target uint64
	var view string // the node whose view the stream carries, from its hello
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var t uint8
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("state stream: read frame %d: %w", n, err)
		}
		if n == 0 && t != frameHello {
			return fmt.Errorf("state stream: frame 0 is type %d, not a hello", t)
		}
		switch t {
		case frameHello, frameBeat:
			var b StreamBeat
			if err := dec.Decode(&b); err != nil {
				return fmt.Errorf("state stream: decode frame %d: %w", n, err)
			}
			if t == frameHello {
				target, view = b.Index, b.View
			}
			s.heardBeat(b)
			if b.Snapshot {
				st, err := decodeSnapshot(dec)
				if err != nil {
					return fmt.Errorf("state stream: read snapshot: %w", err)
				}
				if err := s.fsm.restoreAs(st, view != ""); err != nil {
					return fmt.Errorf("state stream: %w", err)
				}
			}
		case frameDelta:
			var d cluster.Delta
			if err := dec.Decode(&d); err != nil {
				return fmt.Errorf("state stream: decode frame %d: %w", n, err)
			}
			if view == "" {
				return fmt.Errorf("state stream: frame %d: a view's change on a stream of the log", n)
			}
			if err := s.fsm.applyDelta(&d, view); err != nil {
				return fmt.Errorf("state stream: %w", err)
			}
			s.heardBeat(StreamBeat{})
		case frameEntries:
			var ents []Entry
			if err := dec.Decode(&ents); err != nil {
				return fmt.Errorf("state stream: decode frame %d: %w", n, err)
			}
			if s.fsm.view.Load() {
				return fmt.Errorf("state stream: frame %d: this agent holds a node's view, which the log's entries cannot be applied to", n)
			}
			for _, e := range ents {
				if err := s.fsm.applyStreamed(e); err != nil {
					return fmt.Errorf("state stream: %w", err)
				}
			}
			s.heardBeat(StreamBeat{})
		default:
			return fmt.Errorf("state stream: frame %d: unknown type %d", n, t)
		}
		if s.State().Index() >= target {
			s.stream.mu.Lock()
			s.stream.caughtUp = true
			s.stream.mu.Unlock()
		}
	}
}

// heardBeat records a frame; b's fields, where set, replace what was known.
func (s *Store) heardBeat(b StreamBeat) {
	s.stream.mu.Lock()
	defer s.stream.mu.Unlock()
	s.stream.heard = time.Now()
	if b.LeaderID != "" || b.Index != 0 {
		s.stream.leaderID, s.stream.leaderAddr = b.LeaderID, b.LeaderAddr
	}
	if b.Servers != nil {
		s.stream.servers = b.Servers
	}
}

// Heard returns when the stream this agent follows last sent a frame (zero
// when it follows none).
func (s *Store) Heard() time.Time {
	s.stream.mu.Lock()
	defer s.stream.mu.Unlock()
	if !s.stream.following {
		return time.Time{}
	}
	return s.stream.heard
}

// since returns the state and the entries after index, under one lock so
// that they agree; ok is false when the feed no longer reaches back to
// index (the follower needs st as a snapshot). changed is closed at the
// next change.
func (f *fsm) since(index uint64) (st *cluster.State, ents []fedEntry, ok bool, changed <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st = f.state.Load()
	ents, ok = f.feed.since(index)
	return st, ents, ok, f.changed
}

// applyStreamed applies one entry from the state stream.
func (f *fsm) applyStreamed(e Entry) error {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	res := f.apply(e.Index, e.Data, true)
	if err := f.haltErr(); err != nil {
		return err
	}
	_ = res // a command's own error (a refused placement) is part of the state, as on a member
	return nil
}
