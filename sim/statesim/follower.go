package statesim

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"shoal/cluster"
	"shoal/consensus"
)

// GroupOptions configure a group of followers, one process's share.
type GroupOptions struct {
	// Followers First to First+N-1 of the run; those numbered below Full
	// are full consensus.Store followers, the rest light ones.
	First, N, Full int
	// Addrs are the members' stream addresses; follower i starts at
	// Addrs[i % len] and moves to the next when its stream ends.
	Addrs []string
	// Since is the index light followers start from (they hold no state,
	// so a snapshot of what came before would only be decoded and dropped).
	Since uint64
	// View: each follower follows its node's view (ServeView), not the
	// whole state.
	View   bool
	Logger *slog.Logger
}

// mark is when a follower's state reached an index.
type mark struct {
	index uint64
	at    int64 // UnixNano
}

// histLen bounds the marks a follower keeps: enough to answer a watch for
// any change of the last few seconds.
const histLen = 512

// follower follows the stream from the members: a full one applies it to
// a consensus.Store outside Raft (the agent's code), a light one decodes
// every frame and keeps only the index.
type follower struct {
	id    int
	store *consensus.Store // nil for a light follower
	index atomic.Uint64    // the state's index, as of the last mark
	mu    sync.Mutex
	hist  []mark

	reconnects atomic.Int64
	// view: the follower follows its node's view.
	view bool
}

func (f *follower) reached(idx uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.hist); n > 0 && f.hist[n-1].index >= idx {
		return
	}
	if len(f.hist) >= histLen {
		f.hist = append(f.hist[:0], f.hist[len(f.hist)-histLen/2:]...)
	}
	f.hist = append(f.hist, mark{idx, time.Now().UnixNano()})
	f.index.Store(idx)
}

// seenAt returns when the follower first reached idx, 0 if it has not (or
// reached it so long ago that the mark is gone: then the oldest kept).
func (f *follower) seenAt(idx uint64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := sort.Search(len(f.hist), func(i int) bool { return f.hist[i].index >= idx })
	if i == len(f.hist) {
		return 0
	}
	return f.hist[i].at
}

// group is one process's followers.
type group struct {
	opt       GroupOptions
	followers []*follower
}

// newFullStore opens a Store that is in no Raft configuration: its raft
// has an unconnected in-memory transport and stores, and its State is
// fed by Follow alone.
func newFullStore(id int, log *slog.Logger) (*consensus.Store, error) {
	name := "f" + strconv.Itoa(id)
	_, trans := raft.NewInmemTransport(raft.ServerAddress("sim-" + name))
	return consensus.Open(consensus.Config{
		NodeID: name, Transport: trans, Logger: log,
		LogStore: raft.NewInmemStore(), StableStore: raft.NewInmemStore(), SnapshotStore: raft.NewInmemSnapshotStore(),
	})
}

func (g *group) start(ctx context.Context, wg *sync.WaitGroup) error {
	for i := range g.opt.N {
		f := &follower{id: g.opt.First + i, view: g.opt.View}
		if f.id < g.opt.Full {
			s, err := newFullStore(f.id, g.opt.Logger)
			if err != nil {
				return fmt.Errorf("open follower %d: %w", f.id, err)
			}
			f.store = s
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.track(ctx)
			}()
		} else {
			f.reached(g.opt.Since) // where it starts: it holds nothing before
		}
		g.followers = append(g.followers, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.run(ctx, g.opt.Addrs, g.opt.Since)
		}()
	}
	return nil
}

// track records a full follower's state index as it changes.
func (f *follower) track(ctx context.Context) {
	for {
		ch := f.store.Changed()
		f.reached(f.store.State().Index())
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// run keeps the follower on a stream: on its member first, then the next
// whenever a stream ends, from the index it reached, as the agent does.
func (f *follower) run(ctx context.Context, addrs []string, since uint64) {
	for i := f.id; ctx.Err() == nil; i++ {
		err := f.once(ctx, addrs[i%len(addrs)], since)
		if ctx.Err() != nil {
			return
		}
		_ = err // the next member is tried; a failing run shows in the reconnects and the spreads
		f.reconnects.Add(1)
		t := time.NewTimer(100*time.Millisecond + rand.N(100*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (f *follower) once(ctx context.Context, addr string, since uint64) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	from := max(since, f.index.Load())
	if f.store != nil {
		from = f.store.State().Index()
		if f.view && !f.store.HoldsView() {
			from = 0 // a whole view first
		}
	}
	if _, err := c.Write(streamRequest(from, f.node())); err != nil {
		return fmt.Errorf("send index to %s: %w", addr, err)
	}
	r := silenceReader{c}
	if f.store != nil {
		return f.store.Follow(ctx, r)
	}
	return f.follow(r)
}

// node is the node whose view the follower follows ("" for the whole
// state).
func (f *follower) node() string {
	if !f.view {
		return ""
	}
	return nodeName(f.id)
}

// streamRequest is what a follower sends a member: the index to follow
// from (8 bytes, big-endian), then the length of a node's name (a byte)
// and the name, whose view it follows (none: the whole state).
func streamRequest(from uint64, node string) []byte {
	b := binary.BigEndian.AppendUint64(nil, from)
	b = append(b, byte(len(node)))
	return append(b, node...)
}

// silenceReader cuts a stream that sent nothing for StreamSilence (the
// member beats every second).
type silenceReader struct{ c net.Conn }

func (r silenceReader) Read(b []byte) (int, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(consensus.StreamSilence))
	return r.c.Read(b)
}

// The stream's frame types (consensus/stream.go). A light follower reads
// the wire format itself; the end-to-end test catches a change.
const (
	frameHello   uint8 = 1
	frameEntries uint8 = 2
	frameBeat    uint8 = 3
	frameDelta   uint8 = 4
)

// follow is a light follower's Follow: it decodes every frame, the entry
// batches into consensus.Entry (data left encoded: the commands are not
// applied), a snapshot's records generically until the nil-valued end
// record, and keeps the index.
func (f *follower) follow(r io.Reader) error {
	dec := codec.NewDecoder(bufio.NewReaderSize(r, 64<<10), &codec.MsgpackHandle{WriteExt: true})
	for n := 0; ; n++ {
		var t uint8
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("read frame %d: %w", n, err)
		}
		switch t {
		case frameHello, frameBeat:
			var b consensus.StreamBeat
			if err := dec.Decode(&b); err != nil {
				return fmt.Errorf("decode frame %d: %w", n, err)
			}
			if t == frameHello && b.Snapshot {
				if err := skipSnapshot(dec); err != nil {
					return err
				}
				f.reached(b.Index)
			}
		case frameEntries:
			var ents []consensus.Entry
			if err := dec.Decode(&ents); err != nil {
				return fmt.Errorf("decode frame %d: %w", n, err)
			}
			if len(ents) > 0 {
				f.reached(ents[len(ents)-1].Index)
			}
		case frameDelta:
			var d cluster.Delta
			if err := dec.Decode(&d); err != nil {
				return fmt.Errorf("decode frame %d: %w", n, err)
			}
			f.reached(d.Index)
		default:
			return fmt.Errorf("frame %d: unknown type %d", n, t)
		}
	}
}

// skipSnapshot decodes a snapshot's (type, record) pairs up to the end
// record, the only one whose value is nil.
func skipSnapshot(dec *codec.Decoder) error {
	for n := 0; ; n++ {
		var t uint8
		var v any
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("read snapshot record %d: %w", n, err)
		}
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("decode snapshot record %d: %w", n, err)
		}
		if v == nil {
			return nil
		}
	}
}

// digest sums a state's content for comparing a follower with the leader:
// index, config, nodes, workloads, services and pods.
func digest(st *cluster.State) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	parts := []any{st.Index(), st.Config(), st.Nodes(), st.Workloads(), st.Services()}
	for _, p := range parts {
		if err := enc.Encode(p); err != nil {
			return "", fmt.Errorf("digest the state: %w", err)
		}
	}
	for p := range st.Pods() {
		if err := enc.Encode(p); err != nil {
			return "", fmt.Errorf("digest pod %s: %w", p.Key(), err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// RunGroup runs a group of followers and answers the run's commands, one
// line each, read from in, with one line each to out:
//
//	watch <index> <timeout ms>  ->  seen <index> <UnixNano or 0>...
//	check <index> <digest>      ->  check <full same> <full> <light at index> <light>
//	stats                       ->  stats <reconnects>
//
// It writes "ready <n>" once every follower has started, and stops when
// in ends.
func RunGroup(ctx context.Context, opt GroupOptions, in io.Reader, out io.Writer) error {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opt.Addrs) == 0 {
		return fmt.Errorf("follower group: no stream addresses")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	g := &group{opt: opt}
	defer func() {
		cancel()
		wg.Wait()
		for _, f := range g.followers {
			if f.store != nil {
				_ = f.store.Close() // no state of a follower outlives the run
			}
		}
	}()
	if err := g.start(ctx, &wg); err != nil {
		return err
	}
	bw := bufio.NewWriter(out)
	fmt.Fprintf(bw, "ready %d\n", len(g.followers))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("follower group: %w", err)
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		reply, err := g.command(ctx, sc.Text())
		if err != nil {
			return err
		}
		bw.WriteString(reply)
		bw.WriteByte('\n')
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("follower group: %w", err)
		}
	}
	return sc.Err()
}

func (g *group) command(ctx context.Context, line string) (string, error) {
	f := strings.Fields(line)
	bad := fmt.Errorf("follower group: bad command %q", line)
	if len(f) == 0 {
		return "", bad
	}
	switch {
	case f[0] == "watch" && len(f) == 3:
		idx, err1 := strconv.ParseUint(f[1], 10, 64)
		ms, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return "", bad
		}
		return g.watch(ctx, idx, time.Duration(ms)*time.Millisecond), nil
	case f[0] == "check" && len(f) == 3:
		idx, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return "", bad
		}
		return g.check(idx, f[2])
	case f[0] == "stats":
		var n int64
		for _, x := range g.followers {
			n += x.reconnects.Load()
		}
		return fmt.Sprintf("stats %d", n), nil
	}
	return "", bad
}

// watch waits until every follower reached idx or the timeout, and says
// when each did.
func (g *group) watch(ctx context.Context, idx uint64, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		all := true
		for _, f := range g.followers {
			if f.index.Load() < idx {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "seen %d", idx)
	for _, f := range g.followers {
		fmt.Fprintf(&b, " %d", f.seenAt(idx))
	}
	return b.String()
}

// check compares the full followers' states at idx with the leader's
// digest want, and counts the light followers at idx.
func (g *group) check(idx uint64, want string) (string, error) {
	var same, full, light, lightAt int
	for _, f := range g.followers {
		if f.store == nil {
			light++
			if f.index.Load() == idx {
				lightAt++
			}
			continue
		}
		full++
		st := f.store.State()
		if st.Index() != idx {
			continue
		}
		if f.view {
			st = st.View("") // the leader's digest is of its summaries
		}
		d, err := digest(st)
		if err != nil {
			return "", err
		}
		if d == want {
			same++
		}
	}
	return fmt.Sprintf("check %d %d %d %d", same, full, lightAt, light), nil
}
