package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"shoal/internal/poll"
)

func TestFeed(t *testing.T) {
	ent := func(i uint64, size int) Entry { return Entry{Index: i, Data: make([]byte, size)} }
	tests := []struct {
		name           string
		maxEnt, maxB   int
		add            []Entry
		since          uint64
		want           []uint64 // indexes returned
		ok             bool
		wantBase       uint64
		wantTotalBytes int
	}{
		{name: "empty feed, follower at base", maxEnt: 4, maxB: 100, since: 0, ok: true},
		{name: "all after 0", maxEnt: 4, maxB: 100, add: []Entry{ent(1, 1), ent(3, 1), ent(4, 1)}, since: 0, want: []uint64{1, 3, 4}, ok: true, wantTotalBytes: 3},
		{name: "gaps in the index (raft's own entries)", maxEnt: 4, maxB: 100, add: []Entry{ent(1, 1), ent(3, 1), ent(4, 1)}, since: 2, want: []uint64{3, 4}, ok: true, wantTotalBytes: 3},
		{name: "caught up", maxEnt: 4, maxB: 100, add: []Entry{ent(1, 1), ent(2, 1)}, since: 2, ok: true, wantTotalBytes: 2},
		{name: "ahead of the member", maxEnt: 4, maxB: 100, add: []Entry{ent(1, 1)}, since: 9, ok: true, wantTotalBytes: 1},
		{name: "cut by count keeps the newest half", maxEnt: 4, maxB: 100, add: []Entry{ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1), ent(5, 1)}, since: 3, want: []uint64{4, 5}, ok: true, wantBase: 3, wantTotalBytes: 2},
		{name: "behind the cut needs a snapshot", maxEnt: 4, maxB: 100, add: []Entry{ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1), ent(5, 1)}, since: 2, ok: false, wantBase: 3, wantTotalBytes: 2},
		{name: "cut by bytes", maxEnt: 100, maxB: 10, add: []Entry{ent(1, 4), ent(2, 4), ent(3, 4)}, since: 2, want: []uint64{3}, ok: true, wantBase: 2, wantTotalBytes: 4},
		{name: "one entry larger than the bound stays", maxEnt: 100, maxB: 10, add: []Entry{ent(1, 4), ent(2, 40)}, since: 1, want: []uint64{2}, ok: true, wantBase: 1, wantTotalBytes: 40},
		{name: "the only entry, larger than the bound, stays", maxEnt: 100, maxB: 10, add: []Entry{ent(1, 40)}, since: 0, want: []uint64{1}, ok: true, wantBase: 0, wantTotalBytes: 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f feed
			f.setLimits(tc.maxEnt, tc.maxB)
			for _, e := range tc.add {
				f.add(e)
			}
			got, ok := f.since(tc.since)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			var idx []uint64
			for _, e := range got {
				idx = append(idx, e.Index)
			}
			if fmt.Sprint(idx) != fmt.Sprint(tc.want) {
				t.Fatalf("since(%d) = %v, want %v", tc.since, idx, tc.want)
			}
			// The bound counts the entries' encodings, which hold their data.
			data, wire := 0, 0
			for _, e := range f.ents {
				data, wire = data+len(e.Data), wire+len(e.wire)
			}
			if f.base != tc.wantBase || data != tc.wantTotalBytes || f.bytes != wire {
				t.Fatalf("base %d, data bytes %d, counted %d of %d encoded, want base %d, data bytes %d", f.base, data, f.bytes, wire, tc.wantBase, tc.wantTotalBytes)
			}
		})
	}
}

// TestFeedReadersKeepTheirEntries: a subslice handed out stays as it was
// while the feed goes on (appends and cuts never write into it).
func TestFeedReadersKeepTheirEntries(t *testing.T) {
	var f feed
	f.setLimits(4, 1<<20)
	for i := uint64(1); i <= 3; i++ {
		f.add(Entry{Index: i, Data: []byte{byte(i)}})
	}
	got, _ := f.since(1)
	for i := uint64(4); i <= 20; i++ {
		f.add(Entry{Index: i, Data: []byte{byte(i)}})
	}
	if len(got) != 2 || got[0].Index != 2 || got[1].Index != 3 || got[1].Data[0] != 3 {
		t.Fatalf("reader's entries changed: %+v", got)
	}
}

// newClient opens a store that is in no Raft configuration: an agent
// outside Raft. Its transport is connected to the members' so that it can
// be added later.
func newClient(t *testing.T, c *testCluster, id string) *Store {
	t.Helper()
	_, trans := raft.NewInmemTransport(raft.ServerAddress("mem-" + id))
	for _, m := range c.stores {
		mt := m.trans.(*raft.InmemTransport)
		trans.Connect(mt.LocalAddr(), mt)
		mt.Connect(trans.LocalAddr(), trans)
	}
	s, err := Open(testConfig(t, id, func(cfg *Config) {
		cfg.Transport = trans
		cfg.LogStore, cfg.StableStore, cfg.SnapshotStore = raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore()
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// stream connects client to member through a pipe, from the client's
// index, and reconnects (from the client's new index) when the stream
// ends, as the agent does: with the fast test timings a member may miss
// a heartbeat under -race and briefly not be live.
type stream struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func connect(t *testing.T, member, client *Store) *stream {
	t.Helper()
	return connectServe(t, member, client, func(ctx context.Context, since uint64, w io.Writer) error {
		return member.ServeStream(ctx, since, w, nil)
	})
}

// connectServe is connect with the member's side served by serve.
func connectServe(t *testing.T, member, client *Store, serve func(ctx context.Context, since uint64, w io.Writer) error) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(st.done)
		for ctx.Err() == nil {
			pr, pw := io.Pipe()
			since := client.State().Index()
			go func() {
				err := serve(ctx, since, pw)
				_ = pw.CloseWithError(fmt.Errorf("served: %w", err))
			}()
			err := client.Follow(ctx, pr)
			_ = pr.CloseWithError(err)
			if ctx.Err() == nil {
				t.Logf("stream from %s ended: %v", member.cfg.NodeID, err)
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(st.stop)
	return st
}

func (s *stream) stop() {
	s.cancel()
	<-s.done
}

// waitSame waits until the member has applied everything the leader l
// committed, and the follower as much, then compares their states.
func waitSame(t *testing.T, l, want, got *Store) {
	t.Helper()
	idx := l.State().Index()
	poll.Until(t, waitTimeout, "the member and the follower at the leader's index", func() (bool, string) {
		w, g := want.State().Index(), got.State().Index()
		return w >= idx && g == w, fmt.Sprintf("leader %d, member %d, follower %d", idx, w, g)
	})
	statesEqual(t, want.State(), got.State())
}

func TestStreamFollowerReplicatesState(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.leader(t)
	mustApply(t, l, &PutNode{Node: testNode("a", 4000, 8<<30)})
	mustApply(t, l, &PutWorkload{Workload: testWorkload("web", 3, "nginx")})
	client := newClient(t, c, "outside")
	if client.RaftLive() {
		t.Fatal("an agent in no configuration says it is live in raft")
	}
	member := c.stores[1]
	if member == l {
		member = c.stores[2]
	}
	s := connect(t, member, client)
	waitSame(t, l, member, client)

	// Changes after the snapshot arrive as entries.
	mustApply(t, l, &PutNode{Node: testNode("b", 2000, 4<<30)})
	waitSame(t, l, member, client)
	poll.Until(t, waitTimeout, "caught up with a leader known", poll.Bool(client.CaughtUp))
	if _, id := client.Leader(); id != string(l.cfg.NodeID) {
		t.Fatalf("the follower names leader %q, want %q", id, l.cfg.NodeID)
	}
	// The member's configuration may still have been growing when it
	// said hello; a beat carries the change.
	poll.Until(t, waitTimeout, "the follower knowing the 3 servers", func() (bool, string) {
		srv := client.StreamServers()
		return len(srv) == 3, fmt.Sprintf("knows %+v", srv)
	})
	// A write on the follower is refused with the leader named, so that the
	// agent forwards it.
	_, err := client.Apply(context.Background(), &PutNode{Node: testNode("c", 1000, 1<<30)})
	var nl *NotLeaderError
	if !errors.As(err, &nl) {
		t.Fatalf("write on a follower: %v, want a NotLeaderError", err)
	}
	s.stop()
	if client.CaughtUp() {
		t.Fatal("a follower that follows no stream says it is caught up")
	}
}

// TestStreamResumesAndFailsOver: a follower cut off resumes from its index
// on another member, without a snapshot when that member's feed reaches
// back, and loses no change.
func TestStreamResumesAndFailsOver(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.leader(t)
	mustApply(t, l, &PutNode{Node: testNode("a", 4000, 8<<30)})
	client := newClient(t, c, "outside")
	var others []*Store
	for _, m := range c.stores {
		if m != l {
			others = append(others, m)
		}
	}
	s := connect(t, others[0], client)
	waitSame(t, l, others[0], client)
	s.stop()
	for i := range 20 {
		mustApply(t, l, &PutNode{Node: testNode(fmt.Sprintf("n%02d", i), 1000, 1<<30)})
	}
	// others[1] has every entry since the client's index in its feed.
	if _, _, ok, _ := others[1].fsm.since(client.State().Index()); !ok {
		t.Fatal("the second member's feed does not reach back to the follower")
	}
	before := client.State().Index()
	s = connect(t, others[1], client)
	waitSame(t, l, others[1], client)
	if client.State().Index() <= before {
		t.Fatal("no progress after failing over")
	}
	// The state carries its change log across the stream: a resumed
	// follower can tell what changed since its old index.
	if ch, ok := client.State().ChangesSince(before); !ok || len(ch.Nodes) != 20 {
		t.Fatalf("changes since the resume point: %+v ok=%v, want 20 nodes", ch, ok)
	}
	s.stop()
}

// TestStreamSnapshotWhenFeedCut: a follower behind what the member's feed
// keeps gets a snapshot, then entries.
func TestStreamSnapshotWhenFeedCut(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.FeedEntries = 4 })
	l := c.leader(t)
	client := newClient(t, c, "outside")
	s := connect(t, l, client)
	mustApply(t, l, &PutNode{Node: testNode("a", 4000, 8<<30)})
	waitSame(t, l, l, client)
	s.stop()
	for i := range 10 {
		mustApply(t, l, &PutNode{Node: testNode(fmt.Sprintf("n%02d", i), 1000, 1<<30)})
	}
	if _, _, ok, _ := l.fsm.since(client.State().Index()); ok {
		t.Fatal("the feed still reaches back: the test would not take the snapshot path")
	}
	s = connect(t, l, client)
	waitSame(t, l, l, client)
	mustApply(t, l, &PutNode{Node: testNode("after", 1000, 1<<30)})
	waitSame(t, l, l, client)
	s.stop()
}

// TestStreamFollowerPromoted: an agent following the stream is added to
// Raft while it follows; raft then feeds the same state, and no entry is
// applied twice or skipped.
func TestStreamFollowerPromoted(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.leader(t)
	for i := range 5 {
		mustApply(t, l, &PutNode{Node: testNode(fmt.Sprintf("n%02d", i), 1000, 1<<30)})
	}
	client := newClient(t, c, "outside")
	s := connect(t, l, client)
	waitSame(t, l, l, client)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := l.AddNonvoter(ctx, "outside", client.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustApply(t, l, &PutWorkload{Workload: testWorkload(fmt.Sprintf("w%d", i), 1, "nginx")})
	}
	poll.Until(t, waitTimeout, "the promoted follower live in raft", poll.Bool(client.RaftLive))
	waitSame(t, l, l, client)
	s.stop()
	mustApply(t, l, &PutNode{Node: testNode("later", 1000, 1<<30)})
	waitSame(t, l, l, client)
	// Now a member, it serves the stream itself.
	other := newClient(t, c, "outside2")
	s = connect(t, client, other)
	waitSame(t, l, client, other)
	s.stop()
}

// TestServeStreamRefusedOffRaft: an agent outside Raft serves no stream.
func TestServeStreamRefusedOffRaft(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	client := newClient(t, c, "outside")
	err := client.ServeStream(context.Background(), 0, io.Discard, nil)
	if !errors.Is(err, ErrNotMember) {
		t.Fatalf("serve off raft: %v, want ErrNotMember", err)
	}
}

// TestFollowRejectsGarbage: a stream that is not one fails the follower
// and changes nothing.
func TestFollowRejectsGarbage(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	client := newClient(t, c, "outside")
	for _, in := range []string{"", "\x02\x90", "\x01\x81\xa5index\x05\x07"} {
		err := client.Follow(context.Background(), strings.NewReader(in))
		if err == nil {
			t.Fatalf("follow %q: no error", in)
		}
		if client.State().Index() != 0 {
			t.Fatalf("follow %q changed the state", in)
		}
	}
}
