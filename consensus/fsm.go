package consensus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"shoal/cluster"
)

// fsm applies the Raft log to a cluster.State. It is deliberately thin:
// decode, then let the command change a Txn stamped with the entry's
// index. It publishes each new State through an atomic pointer, so readers
// never wait for Apply and Apply never waits for readers.
type fsm struct {
	log   *slog.Logger
	state atomic.Pointer[cluster.State]
	// version names this agent in the message of a halt.
	version string

	// halted is set, once, by the first entry that cannot be applied;
	// haltCh is closed then.
	halted atomic.Pointer[error]
	haltCh chan struct{}

	// applyMu serialises the two ways entries reach the state: raft's
	// Apply and Restore, and the state stream (feed.go) on an agent
	// outside Raft or cut off from its leader.
	applyMu sync.Mutex

	mu      sync.Mutex
	changed chan struct{} // closed when state changes, then replaced
	// feed holds the entries applied since the last restore, for the
	// state stream; guarded by mu with state so that a reader takes a
	// State and the entries after it as one.
	feed feed
	// view is set while the state is a node's view (cluster.State.View,
	// from ServeView's stream), whose summarized pods the log's commands
	// cannot be applied to; a whole snapshot clears it.
	view atomic.Bool
	// freshRaft: this agent's Raft held no log or snapshot when it
	// started; raftFed: Raft has applied or restored something since.
	// A view is allowed only while both say Raft never fed this state,
	// so that Raft's first feed, which then starts from the log's first
	// entry or a snapshot, can replace the view instead of skipping
	// entries the view stands for.
	freshRaft, raftFed atomic.Bool
	// shadow is the whole state Raft builds from its first entry while
	// readers still see the view it will replace (guarded by applyMu).
	shadow *cluster.State
}

// viewsAllowed reports whether this agent may hold a node's view.
func (f *fsm) viewsAllowed() bool { return f.freshRaft.Load() && !f.raftFed.Load() }

// raftFeeds is called as Raft applies or restores: a view held until
// now gives way to the whole state Raft builds from its first entry.
// false means it cannot (Raft had fed this state before the view), and
// the entry must not be applied.
func (f *fsm) raftFeeds() bool {
	first := !f.raftFed.Swap(true)
	if !f.view.Load() || f.shadow != nil {
		return true
	}
	if !first || !f.freshRaft.Load() {
		return false
	}
	f.log.Info("raft feeds this agent now: it builds the whole state from the log's start behind the node's view it holds", "view", f.state.Load().Index())
	f.shadow = cluster.Empty()
	return true
}

func newFSM(log *slog.Logger) *fsm {
	f := &fsm{log: log, changed: make(chan struct{}), haltCh: make(chan struct{})}
	f.feed.setLimits(0, 0)
	f.state.Store(cluster.Empty())
	return f
}

// publish makes s the state. e is the entry that produced it, nil when s
// was restored from a snapshot (the feed then starts afresh at s).
func (f *fsm) publish(s *cluster.State, e *Entry) {
	f.mu.Lock()
	if e != nil {
		f.feed.add(streamEntry(*e))
	} else {
		f.feed.reset(s.Index())
	}
	f.state.Store(s)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fsm) changedCh() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// Apply applies one log entry: a single command or a batch. Its response is
// a Result, or a []Result for a batch, one per command in order.
//
// A corrupt entry or an unknown command without IgnoreUnknownTypeFlag
// halts the FSM: skipping it would let this member's state silently
// diverge from the others', so from that entry on nothing is applied, the
// state stays as it was before it, and Halted tells the agent to stop
// with the reason (upgrade the agent, or restore). An entry of an unknown
// type with the ignore bit is skipped.
func (f *fsm) Apply(l *raft.Log) any {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if !f.raftFeeds() {
		return f.halt(l.Index, errors.New("the state is a node's view from a state stream, and raft fed this agent before: restart it to rebuild the whole state"))
	}
	return f.apply(l.Index, l.Data, false)
}

// apply applies one committed entry, from raft or from the state stream
// (streamed). Both carry the same committed log, each in order, so an
// entry at or below the state's index is one the other source already
// applied, but for the CA key the stream leaves out (cakey.go).
func (f *fsm) apply(index uint64, data []byte, streamed bool) any {
	l := &raft.Log{Index: index, Data: data}
	if err := f.haltErr(); err != nil {
		return Result{Index: l.Index, Err: err}
	}
	if cur := f.base(); l.Index <= cur.Index() {
		if tr := cur.Trust(); !streamed && tr.CAKey == "" && tr.CACert != "" {
			if s := withCAKey(cur, caKeyIn(data, tr.CACert), tr.CACert); s != nil {
				f.log.Info("the cluster CA key received from raft")
				f.replace(s)
			}
		}
		return Result{Index: l.Index, Ignored: true}
	}
	if len(l.Data) == 0 {
		return f.halt(l.Index, errors.New("empty entry"))
	}
	a := &applier{txn: f.base().Txn(l.Index), streamed: streamed}
	var resp any
	if CommandType(l.Data[0]) == batchType {
		cmds, err := decodeBatch(l.Data[1:])
		if err != nil {
			return f.halt(l.Index, fmt.Errorf("decode batch: %w", err))
		}
		results := make([]Result, len(cmds))
		for i, b := range cmds {
			results[i] = f.applyOne(a, l.Index, b)
		}
		resp = results
	} else {
		resp = f.applyOne(a, l.Index, l.Data)
	}
	if err := f.haltErr(); err != nil {
		return Result{Index: l.Index, Err: err} // a batch's later command halted: none of it counts
	}
	f.commit(a.txn.Commit(), &Entry{Index: l.Index, Data: l.Data})
	return resp
}

// base is the state entries apply to: the whole state Raft is building
// while a view is still what readers see, else the state.
func (f *fsm) base() *cluster.State {
	if f.shadow != nil {
		return f.shadow
	}
	return f.state.Load()
}

// commit publishes s, made by entry e; while Raft rebuilds the whole
// state behind a view, only once s has caught up with the view.
func (f *fsm) commit(s *cluster.State, e *Entry) {
	if f.shadow == nil {
		f.publish(s, e)
		return
	}
	f.shadow = s
	if view := f.state.Load(); s.Index() >= view.Index() {
		f.log.Info("raft's whole state caught up with the node's view this agent held: it replaces the view", "index", s.Index())
		f.shadow = nil
		f.view.Store(false)
		f.publish(s, nil)
	}
}

// halt stops applying at entry index, for good.
func (f *fsm) halt(index uint64, cause error) Result {
	err := fmt.Errorf("%w at log entry %d: %w (this agent is shoal %s, which knows log command types 1-%d)",
		ErrHalted, index, cause, f.versionOr(), uint8(maxCommandType))
	if f.halted.CompareAndSwap(nil, &err) {
		f.log.Error("cannot apply the raft log: this member stops applying it", "index", index, "err", err)
		close(f.haltCh)
	}
	return Result{Index: index, Err: *f.halted.Load()}
}

func (f *fsm) versionOr() string {
	if f.version == "" {
		return "(unknown version)"
	}
	return f.version
}

// haltErr is the reason the FSM halted, nil while it applies.
func (f *fsm) haltErr() error {
	if p := f.halted.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *fsm) applyOne(a *applier, index uint64, b []byte) Result {
	t, c, known, err := decodeCommand(b)
	if err != nil {
		return f.halt(index, err)
	}
	if !known {
		if t&IgnoreUnknownTypeFlag != 0 {
			f.log.Warn("skipping unknown optional command", "type", uint8(t), "index", index)
			return Result{Index: index, Ignored: true}
		}
		return f.halt(index, fmt.Errorf("unknown command type %d: the log was written by a newer agent; upgrade this one", uint8(t)))
	}
	if c.Type() != ApplyPlanType {
		a.pl = nil
	}
	r := c.apply(a)
	r.Index = index
	return r
}

// Snapshot hands raft the current State: it is immutable, so Persist can
// stream it while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if f.view.Load() && f.shadow == nil {
		return nil, errors.New("the state is a node's view: raft has nothing of its own to snapshot")
	}
	return &fsmSnapshot{state: f.base()}, nil
}

// Snapshot record types. A snapshot is a msgpack stream of (type, value)
// pairs: a header, one record per object, and an end marker that proves
// the stream is complete.
const (
	recHeader uint8 = iota + 1
	recNode
	recWorkload
	recPod
	recService
	recEnd
	// recClaimLocation came after recEnd was numbered; it keeps the
	// numbers above (and the snapshot version) as they were.
	recClaimLocation
	// recToken: user tokens (hashed), after recClaimLocation.
	recToken
	// recObject: ConfigMaps, Secrets (sealed), Namespaces, API-only kinds.
	recObject
)

const snapshotVersion = 1

type snapshotHeader struct {
	Version int            `json:"version"`
	Index   uint64         `json:"index"`
	Config  cluster.Config `json:"config"`
	// Trust came later; a snapshot without it restores an empty one.
	Trust cluster.Trust `json:"trust"`
}

type fsmSnapshot struct{ state *cluster.State }

// Persist streams the state object by object rather than as one blob, so a
// 100,000-pod state never needs a second copy in memory.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot at index %d: %w", s.state.Index(), err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close snapshot at index %d: %w", s.state.Index(), err)
	}
	return nil
}

func (s *fsmSnapshot) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := encodeSnapshot(codec.NewEncoder(bw, mh), s.state); err != nil {
		return err
	}
	return bw.Flush()
}

// encodeSnapshot writes st's records, header to end marker.
func encodeSnapshot(enc *codec.Encoder, st *cluster.State) error {
	return encodeSnapshotPods(enc, st, nil, nil)
}

// encodeSnapshotPods encodes st with every pod as pod returns it and only
// the objects keep keeps, when they are set (a node's view: see
// ServeView).
func encodeSnapshotPods(enc *codec.Encoder, st *cluster.State, pod func(*cluster.Pod) *cluster.Pod, keep func(*cluster.Object) bool) error {
	var err error
	put := func(t uint8, v any) {
		if err == nil {
			err = enc.Encode(t)
		}
		if err == nil {
			err = enc.Encode(v)
		}
	}
	put(recHeader, snapshotHeader{Version: snapshotVersion, Index: st.Index(), Config: st.Config(), Trust: st.Trust()})
	for _, n := range st.Nodes() {
		put(recNode, n)
	}
	for _, w := range st.Workloads() {
		put(recWorkload, w)
	}
	for p := range st.Pods() {
		if pod != nil {
			p = pod(p)
		}
		put(recPod, p)
		if err != nil {
			break
		}
	}
	for _, sv := range st.Services() {
		put(recService, sv)
	}
	for _, c := range st.ClaimLocations() {
		put(recClaimLocation, c)
	}
	for _, t := range st.Tokens() {
		put(recToken, t)
	}
	for _, o := range st.AllObjects() {
		if keep == nil || keep(o) {
			put(recObject, o)
		}
	}
	put(recEnd, nil)
	return err
}

func (s *fsmSnapshot) Release() {}

// Restore replaces the state with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.raftFed.Store(true)
	f.restore(s)
	return nil
}

// restore makes s the state unless the state already holds more: the
// stream may have carried this agent past a snapshot raft installs when
// it (re)joins, and the entries raft applies next are then skipped up to
// the state's index. Either way the CA key is kept when one source has it
// and the other does not (the stream leaves it out, cakey.go).
func (f *fsm) restore(s *cluster.State) { _ = f.restoreAs(s, false) }

// restoreAs is restore of a whole state, or of a node's view (view),
// which is refused once Raft has fed this agent.
func (f *fsm) restoreAs(s *cluster.State, view bool) error {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if view && !f.viewsAllowed() {
		return errors.New("raft has fed this agent's state: it holds the whole state, not a node's view")
	}
	cur := f.state.Load()
	if f.view.Load() != view {
		// A state of the other kind replaces this one whatever their
		// indexes: a whole state stands for more than a view, and a
		// view is asked for afresh (since 0) by an agent that chose it.
		cur, f.shadow = cluster.Empty(), nil
	}
	if cur.Index() > 0 && s.Index() <= cur.Index() {
		f.log.Info("snapshot skipped: the state is already past it", "snapshot", s.Index(), "state", cur.Index())
		if with := withCAKey(cur, s.Trust().CAKey, s.Trust().CACert); with != nil {
			f.log.Info("the cluster CA key received from raft")
			f.replace(with)
		}
		return nil
	}
	if with := withCAKey(s, cur.Trust().CAKey, cur.Trust().CACert); with != nil {
		s = with
	}
	f.view.Store(view)
	f.publish(s, nil)
	return nil
}

// replace makes s, at the state's own index, the state, leaving the feed
// as it is.
func (f *fsm) replace(s *cluster.State) {
	f.mu.Lock()
	f.state.Store(s)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func readSnapshot(r io.Reader) (*cluster.State, error) {
	return decodeSnapshot(codec.NewDecoder(bufio.NewReaderSize(r, 256<<10), mh))
}

// decodeSnapshot reads one snapshot's records, header to end marker.
func decodeSnapshot(dec *codec.Decoder) (*cluster.State, error) {
	var t uint8
	if err := dec.Decode(&t); err != nil || t != recHeader {
		return nil, fmt.Errorf("read header (record %d): %v", t, err)
	}
	var hdr snapshotHeader
	if err := dec.Decode(&hdr); err != nil {
		return nil, fmt.Errorf("decode header: %w", err)
	}
	if hdr.Version != snapshotVersion {
		return nil, fmt.Errorf("snapshot version %d, this agent reads %d", hdr.Version, snapshotVersion)
	}
	txn := cluster.Empty().Txn(hdr.Index)
	txn.SetConfig(hdr.Config)
	txn.SetTrust(hdr.Trust)
	for n := 0; ; n++ {
		if err := dec.Decode(&t); err != nil {
			return nil, fmt.Errorf("read record %d: %w", n, err)
		}
		var err error
		switch t {
		case recNode:
			v := &cluster.Node{}
			if err = dec.Decode(v); err == nil {
				txn.RestoreNode(v)
			}
		case recWorkload:
			v := &cluster.Workload{}
			if err = dec.Decode(v); err == nil {
				txn.RestoreWorkload(v)
			}
		case recPod:
			v := &cluster.Pod{}
			if err = dec.Decode(v); err == nil {
				txn.RestorePod(v)
			}
		case recService:
			v := &cluster.Service{}
			if err = dec.Decode(v); err == nil {
				txn.RestoreService(v)
			}
		case recClaimLocation:
			v := &cluster.ClaimLocation{}
			if err = dec.Decode(v); err == nil {
				txn.RestoreClaimLocation(v)
			}
		case recToken:
			v := &cluster.Token{}
			if err = dec.Decode(v); err == nil {
				txn.PutToken(v)
			}
		case recObject:
			v := &cluster.Object{}
			if err = dec.Decode(v); err == nil {
				txn.RestoreObject(v)
			}
		case recEnd:
			var nothing any
			if err := dec.Decode(&nothing); err != nil {
				return nil, fmt.Errorf("read end record: %w", err)
			}
			return txn.Commit(), nil
		default:
			return nil, fmt.Errorf("record %d: unknown type %d", n, t)
		}
		if err != nil {
			return nil, fmt.Errorf("decode record %d (type %d): %w", n, t, err)
		}
	}
}

var _ raft.FSM = (*fsm)(nil)
