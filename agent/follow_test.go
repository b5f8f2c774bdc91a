package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/internal/poll"
)

// streamMember is a Raft member of an in-process cluster serving its
// state stream over TLS, as the API's /internal/stream route does.
type streamMember struct {
	store *consensus.Store
	srv   *httptest.Server
	conns atomic.Int64 // streams served
	views atomic.Int64 // of them, a node's view
	// refuse answers 503, as a member that is not live in Raft does;
	// refuseWhole answers 403 to a request for the whole state, as a
	// member does to a node that never held Raft.
	refuse, refuseWhole atomic.Bool
}

func newStreamCluster(t *testing.T, n int) ([]*streamMember, *consensus.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stores, err := consensus.OpenInmem(ctx, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ms []*streamMember
	for _, s := range stores {
		t.Cleanup(func() { _ = s.Close() })
		m := &streamMember{store: s}
		m.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if m.refuse.Load() {
				http.Error(w, consensus.ErrNotMember.Error(), http.StatusServiceUnavailable)
				return
			}
			if m.refuseWhole.Load() && r.URL.Query().Get("view") == "" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"error":"state stream: node outside is not and never was a Raft member"}`))
				return
			}
			m.conns.Add(1)
			since, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
			rc := http.NewResponseController(w)
			if view := r.URL.Query().Get("view"); view != "" {
				m.views.Add(1)
				_ = s.ServeView(r.Context(), since, view, w, rc.Flush)
				return
			}
			_ = s.ServeStream(r.Context(), since, w, rc.Flush)
		}))
		t.Cleanup(m.srv.Close)
		ms = append(ms, m)
	}
	// The members' node records carry their API addresses, as registered
	// agents' do.
	for i, m := range ms {
		n := &cluster.Node{Name: fmt.Sprintf("n%d", i), Address: "127.0.0.1", APIAddr: m.srv.Listener.Addr().String(),
			Status: cluster.NodeReady}
		if _, err := stores[0].Apply(ctx, &consensus.PutNode{Node: n}); err != nil {
			t.Fatal(err)
		}
	}
	// A store in no Raft configuration: an agent outside Raft.
	_, trans := raft.NewInmemTransport("mem-outside")
	client, err := consensus.Open(consensus.Config{NodeID: "outside", Transport: trans,
		LogStore: raft.NewInmemStore(), StableStore: raft.NewInmemStore(), SnapshotStore: raft.NewInmemSnapshotStore()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return ms, client
}

func runFollower(t *testing.T, f *stateFollower) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitIndex(t *testing.T, client *consensus.Store, idx uint64) {
	t.Helper()
	poll.Until(t, 10*time.Second, "the follower at the leader's index", func() (bool, string) {
		got := client.State().Index()
		return got >= idx, fmt.Sprintf("at %d, want %d", got, idx)
	})
}

func putNode(t *testing.T, l *consensus.Store, name string) uint64 {
	t.Helper()
	res, err := l.Apply(context.Background(), &consensus.PutNode{Node: &cluster.Node{Name: name, Address: "192.0.2.9", Status: cluster.NodeReady}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Index
}

// TestFollowerFailsOver: the follower starts from a seed, learns the
// members from the stream, and when the member it follows goes away it
// follows another from its own index, losing no change.
func TestFollowerFailsOver(t *testing.T) {
	ms, client := newStreamCluster(t, 3)
	l := ms[0].store
	f := &stateFollower{store: client, http: ms[0].srv.Client(), self: "outside",
		seeds: []string{ms[0].srv.Listener.Addr().String()}, log: slog.New(slog.DiscardHandler),
		silence: time.Second, retry: 50 * time.Millisecond, rebalance: 200 * time.Millisecond}
	reg := prometheus.NewRegistry()
	f.metrics = newFollowMetrics(reg, client)
	runFollower(t, f)
	waitIndex(t, client, putNode(t, l, "x1"))
	poll.Until(t, 10*time.Second, "caught up", poll.Bool(client.CaughtUp))
	if _, id := client.Leader(); id != "n0" {
		t.Fatalf("leader as the follower sees it: %q", id)
	}
	// Followers keep off the leader once they know the members.
	poll.Until(t, 10*time.Second, "the follower on a replica, not the leader", poll.Bool(func() bool {
		return ms[1].conns.Load()+ms[2].conns.Load() > 0
	}))
	var following *streamMember
	for _, m := range ms[1:] {
		if m.conns.Load() > 0 {
			following = m
		}
	}
	old := following.srv.Listener.Addr().String()
	poll.Until(t, 10*time.Second, "the metrics naming the member followed", func() (bool, string) {
		got := followedMembers(t, reg)
		return len(got) == 1 && got[0] == old, fmt.Sprintf("following %v, want [%s]", got, old)
	})
	following.srv.CloseClientConnections()
	following.srv.Close()
	idx := putNode(t, l, "x2")
	waitIndex(t, client, idx)
	for _, name := range []string{"x1", "x2"} {
		if _, ok := client.State().Node(name); !ok {
			t.Fatalf("change %s lost in the failover", name)
		}
	}
	poll.Until(t, 10*time.Second, "the metrics naming another member", func() (bool, string) {
		got := followedMembers(t, reg)
		return len(got) == 1 && got[0] != old, fmt.Sprintf("following %v after %s closed", got, old)
	})
	if g := gathered(t, reg, "shoal_state_index"); len(g) != 1 || uint64(g[0].GetGauge().GetValue()) != client.State().Index() {
		t.Fatalf("shoal_state_index: %v, want %d", g, client.State().Index())
	}
}

// followedMembers are the member labels of shoal_state_stream_following.
func followedMembers(t *testing.T, reg *prometheus.Registry) []string {
	var out []string
	for _, m := range gathered(t, reg, "shoal_state_stream_following") {
		if m.GetGauge().GetValue() == 1 {
			out = append(out, m.GetLabel()[0].GetValue())
		}
	}
	return out
}

func gathered(t *testing.T, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

// TestFollowerRedirectedAndSilence: a seed that is not a member names
// the members; a member that goes silent is left after the silence.
func TestFollowerRedirectedAndSilence(t *testing.T) {
	ms, client := newStreamCluster(t, 1)
	silent := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done() // says nothing, ever
	}))
	t.Cleanup(silent.Close)
	nonMember := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(api.StreamRedirect{Error: consensus.ErrNotMember.Error(), Servers: []string{ms[0].srv.Listener.Addr().String()}})
	}))
	t.Cleanup(nonMember.Close)
	f := &stateFollower{store: client, http: ms[0].srv.Client(), self: "outside",
		seeds: []string{silent.Listener.Addr().String(), nonMember.Listener.Addr().String()}, log: slog.New(slog.DiscardHandler),
		silence: 300 * time.Millisecond, retry: 50 * time.Millisecond}
	runFollower(t, f)
	waitIndex(t, client, putNode(t, ms[0].store, "x1"))
}

// TestFollowerRebalancesWhenIdle: a follower that failed over from its
// preferred member goes back to it once caught up even when nothing
// changes (a stream that advances nothing), straight, not by way of the
// rest of its list (the leader last).
func TestFollowerRebalancesWhenIdle(t *testing.T) {
	ms, client := newStreamCluster(t, 3)
	f := &stateFollower{store: client, http: ms[0].srv.Client(), self: "outside",
		seeds: []string{ms[0].srv.Listener.Addr().String()}, log: slog.New(slog.DiscardHandler),
		silence: 5 * time.Second, retry: 50 * time.Millisecond, rebalance: time.Second}
	runFollower(t, f)
	waitIndex(t, client, putNode(t, ms[0].store, "x1"))
	// The follower's preferred member is the first of its candidates,
	// the leader (ms[0]) the last.
	var preferred, other *streamMember
	poll.Until(t, 10*time.Second, "the follower's candidates known", func() (bool, string) {
		m := f.members()
		return len(m) == 3 && m[2] == ms[0].srv.Listener.Addr().String(), fmt.Sprintf("members %v", m)
	})
	for _, m := range ms[1:] {
		if m.srv.Listener.Addr().String() == f.members()[0] {
			preferred = m
		} else {
			other = m
		}
	}
	poll.Until(t, 10*time.Second, "the follower on its preferred member", poll.Bool(func() bool { return preferred.conns.Load() > 0 }))

	// The preferred member stops serving for a moment: the follower moves
	// to the other replica, and nothing is written from here on.
	preferred.refuse.Store(true)
	preferred.srv.CloseClientConnections()
	poll.Until(t, 10*time.Second, "the follower on the other member", poll.Bool(func() bool { return other.conns.Load() > 0 }))
	preferred.refuse.Store(false)
	leaderStreams, before := ms[0].conns.Load(), preferred.conns.Load()
	poll.Until(t, 10*time.Second, "the follower back on its preferred member", poll.Bool(func() bool { return preferred.conns.Load() > before }))
	if n := ms[0].conns.Load(); n != leaderStreams {
		t.Fatalf("the follower went through the leader (%d streams) on its way back to its preferred member", n-leaderStreams)
	}
}

func TestFollowerCandidates(t *testing.T) {
	st := cluster.Empty().Txn(1)
	for _, n := range []string{"lead", "v1", "v2", "r1", "me"} {
		st.PutNode(&cluster.Node{Name: n, APIAddr: n + ":7948"})
	}
	fs := &fakeFollowStore{state: st.Commit(), leader: "lead", servers: []consensus.Server{
		{ID: "lead", Voter: true}, {ID: "v1", Voter: true}, {ID: "v2", Voter: true}, {ID: "r1"}, {ID: "me"}, {ID: "gone"},
	}}
	f := &stateFollower{store: fs, self: "me", seeds: []string{"seed:7948", "r1:7948"}, redirects: []string{"red:7948"},
		others: func() []string { return []string{"other:7948", "me:7948"} }}
	got := f.candidates()
	want := []string{"r1:7948", "v1:7948|v2:7948", "v1:7948|v2:7948", "lead:7948", "red:7948", "seed:7948", "other:7948"}
	if len(got) != len(want) {
		t.Fatalf("candidates %v, want the shape %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] && !(want[i] == "v1:7948|v2:7948" && (got[i] == "v1:7948" || got[i] == "v2:7948")) {
			t.Fatalf("candidate %d = %s in %v, want %s", i, got[i], got, want[i])
		}
	}
	// Followers spread: over many names, both voters come first sometimes.
	first := map[string]bool{}
	for i := range 32 {
		f.self = fmt.Sprintf("agent-%d", i)
		first[f.candidates()[1]] = true
	}
	if len(first) != 2 {
		t.Fatalf("every follower prefers the same voter: %v", first)
	}
}

type fakeFollowStore struct {
	followStore
	state   *cluster.State
	leader  string
	servers []consensus.Server
}

func (f *fakeFollowStore) State() *cluster.State    { return f.state }
func (f *fakeFollowStore) Leader() (string, string) { return "", f.leader }
func (f *fakeFollowStore) StreamServers() []consensus.Server {
	return append([]consensus.Server(nil), f.servers...)
}

// TestFollowerView: an agent outside Raft follows its node's view unless
// told to hold the whole state and the members serve it that, and what it
// holds is that: its own pods whole, the others summarized.
func TestFollowerView(t *testing.T) {
	for _, tc := range []struct {
		wholeState, refused bool
	}{{false, false}, {true, false}, {true, true}} {
		t.Run(fmt.Sprintf("whole state %v, refused %v", tc.wholeState, tc.refused), func(t *testing.T) {
			ms, client := newStreamCluster(t, 3)
			for _, m := range ms {
				m.refuseWhole.Store(tc.refused)
			}
			// --whole-state refused by the members: the node's view.
			whole := tc.wholeState && !tc.refused
			l := ms[0].store
			pod := func(name, node string) *cluster.Pod {
				return &cluster.Pod{Namespace: "default", Name: name, UID: "u-" + name, Ordinal: -1, NodeName: node,
					Spec: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "img"}}}}
			}
			big := cluster.Resources{MilliCPU: 4000, Memory: 8 << 30}
			place := func(name, node string) cluster.Placement {
				return cluster.Placement{Pod: cluster.PodRef{Namespace: "default", Name: name, UID: "u-" + name}, Node: node}
			}
			res, err := l.Apply(context.Background(),
				&consensus.PutNode{Node: &cluster.Node{Name: "outside", Address: "192.0.2.7", Status: cluster.NodeReady, Capacity: big, Allocatable: big}},
				&consensus.PutNode{Node: &cluster.Node{Name: "n1", Address: "127.0.0.1", APIAddr: ms[1].srv.Listener.Addr().String(), Status: cluster.NodeReady, Capacity: big, Allocatable: big}},
				&consensus.PutPods{Pods: []*cluster.Pod{pod("mine", ""), pod("theirs", "")}},
				&consensus.ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{place("mine", "outside"), place("theirs", "n1")}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			f := &stateFollower{store: client, http: ms[0].srv.Client(), self: "outside",
				seeds: []string{ms[0].srv.Listener.Addr().String()}, log: slog.New(slog.DiscardHandler),
				silence: time.Second, retry: 50 * time.Millisecond, wholeState: tc.wholeState}
			runFollower(t, f)
			waitIndex(t, client, putNode(t, l, "x1"))
			if client.HoldsView() == whole {
				t.Fatalf("holds a view: %v, with whole state %v", client.HoldsView(), whole)
			}
			var views int64
			for _, m := range ms {
				views += m.views.Load()
			}
			if (views > 0) == whole {
				t.Fatalf("%d view streams served, with whole state %v", views, whole)
			}
			mine, _ := client.State().Pod("default", "mine")
			theirs, _ := client.State().Pod("default", "theirs")
			if mine.Summarized || theirs.Summarized != !whole || (theirs.Spec.Containers[0].Image == "") != !whole {
				t.Fatalf("own pod %+v, another node's %+v", mine, theirs)
			}
		})
	}
}
