package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
)

// followStore is the state as the stream follower needs it;
// consensus.Store implements it.
type followStore interface {
	State() *cluster.State
	RaftLive() bool
	Leader() (addr, id string)
	StreamServers() []consensus.Server
	Follow(ctx context.Context, r io.Reader) error
	Heard() time.Time
	CaughtUp() bool
	ViewsAllowed() bool
	HoldsView() bool
}

// stateFollower keeps this agent's state current when Raft does not: on
// an agent outside the Raft configuration (most agents of a large
// cluster), or a member cut off from its leader. It follows the state
// stream of one member at a time, over mutual TLS with this node's
// certificate, resuming from its own index, and moves to another member
// when that one dies, goes silent, or stops being a member.
type stateFollower struct {
	store followStore
	http  *http.Client
	self  string
	// seeds are API addresses to start from (--join) when the state
	// names no member yet.
	seeds []string
	// others lists the API addresses of the agents gossip knows: the last
	// resort of an agent that restarted without --join and holds no state
	// (any agent answers with the members' addresses).
	others func() []string
	log    *slog.Logger
	// silence: no frame for this long ends a stream (default
	// consensus.StreamSilence); retry is the pause after a round in which
	// no member could be followed (default 1 s).
	silence, retry time.Duration
	// rebalance: a follower caught up on a member other than its first
	// choice (the leader it joined through, a member it failed over to)
	// moves to that choice after this long (default 30 s), so that the
	// leader's load does not grow with the agents that joined through it.
	rebalance time.Duration
	// redirects are members named by agents that were not members.
	redirects []string
	// lastLeader is the leader the state named last (members runs on the
	// follower's and the watchdog's goroutines).
	lastLeader atomicString
	// metrics (nil in tests that do not look) tell which member feeds this
	// agent: an operator's first question when a node's view lags.
	metrics *followMetrics
	// wholeState makes this agent follow the whole state even where a
	// node's view would do (--whole-state), unless a member refused it
	// (wholeRefused): the whole state goes only to agents that hold or
	// held Raft.
	wholeState   bool
	wholeRefused atomic.Bool
	// current is the API address of the member whose stream this agent
	// reads now, "" between streams.
	current atomicString
}

// following returns the API address of the member this agent follows
// now ("" when none): the API sends reads there while the agent holds
// its node's view.
func (f *stateFollower) following() string { return f.current.Load() }

// wantsView reports whether the next stream should carry this node's
// view (its own pods whole, the others summarized) rather than the whole
// state: on an agent outside the Raft configuration whose Raft was never
// fed. A member cut off from its leader follows the whole state, which
// it will serve again.
func (f *stateFollower) wantsView() bool {
	if (f.wholeState && !f.wholeRefused.Load()) || !f.store.ViewsAllowed() {
		return false
	}
	return !slices.ContainsFunc(f.store.StreamServers(), func(s consensus.Server) bool { return s.ID == f.self })
}

// atomicString is a string read and written from several goroutines.
type atomicString struct{ v atomic.Value }

func (a *atomicString) Load() string {
	s, _ := a.v.Load().(string)
	return s
}

func (a *atomicString) Store(s string) { a.v.Store(s) }

// followMetrics are the follower's Prometheus series.
type followMetrics struct {
	// following is 1 for the member whose stream this agent reads now.
	following *prometheus.GaugeVec
	// streams counts streams opened, by how they ended.
	streams *prometheus.CounterVec
}

func newFollowMetrics(reg prometheus.Registerer, store followStore) *followMetrics {
	m := &followMetrics{
		following: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shoal_state_stream_following",
			Help: "1 for the Raft member (API address) whose state stream this agent follows now.",
		}, []string{"member"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_state_stream_streams_total",
			Help: "State streams this agent followed, by how they ended (silent, raft, rebalance, refused, error).",
		}, []string{"ended"}),
	}
	reg.MustRegister(m.following, m.streams, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shoal_state_index",
		Help: "The Raft index of this agent's copy of the cluster state, from Raft or the state stream.",
	}, func() float64 { return float64(store.State().Index()) }), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shoal_state_view",
		Help: "1 while this agent holds its node's view of the cluster state (other nodes' pods as summaries), 0 while it holds the whole state.",
	}, func() float64 {
		if store.HoldsView() {
			return 1
		}
		return 0
	}))
	return m
}

// streamStarted marks addr as the member followed until the returned
// function records how the stream ended.
func (m *followMetrics) streamStarted(addr string) func(err error) {
	if m == nil {
		return func(error) {}
	}
	m.following.WithLabelValues(addr).Set(1)
	return func(err error) {
		m.following.DeleteLabelValues(addr)
		m.streams.WithLabelValues(endReason(err)).Inc()
	}
}

func endReason(err error) string {
	switch {
	case errors.Is(err, errStreamSilent):
		return "silent"
	case errors.Is(err, errRaftLive):
		return "raft"
	case errors.Is(err, errRebalance):
		return "rebalance"
	}
	return "error"
}

func (f *stateFollower) run(ctx context.Context) {
	silence := cmp.Or(f.silence, consensus.StreamSilence)
	retry := cmp.Or(f.retry, time.Second)
	var current string
	for ctx.Err() == nil {
		if f.store.RaftLive() {
			if !sleep(ctx, retry) {
				return
			}
			continue
		}
		followed := false
		for _, addr := range f.candidates() {
			if ctx.Err() != nil || f.store.RaftLive() {
				break
			}
			from := f.store.State().Index()
			err := f.followFrom(ctx, addr, silence)
			// A stream that advanced the state, or was left for the
			// preferred member (on an idle cluster it advances nothing),
			// sends the follower back to the best candidate.
			if f.store.State().Index() > from || err == nil || errors.Is(err, errRebalance) {
				followed = true
			}
			if addr != current {
				current = addr
				f.log.Info("state stream: followed a member", "member", addr, "from", from, "to", f.store.State().Index(), "ended", err)
			} else {
				f.log.Debug("state stream ended", "member", addr, "err", err)
			}
			if followed {
				break // start again from the best candidate
			}
		}
		if !followed && !sleep(ctx, retry) {
			return
		}
	}
}

// candidates lists API addresses to follow from, best first: the Raft
// members the state stream or Raft named (replicas before voters, the
// leader last, so that followers keep load off the leader; within a group
// in an order of their own, so that followers spread over the members),
// then members other agents redirected to, then the seeds, then any agent
// gossip knows.
func (f *stateFollower) candidates() []string {
	out := f.members()
	add := func(addr string) {
		if addr != "" && !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	for _, a := range f.redirects {
		add(a)
	}
	for _, a := range f.seeds {
		add(a)
	}
	if f.others != nil {
		for _, a := range f.others() {
			add(a)
		}
	}
	if n, ok := f.store.State().Node(f.self); ok {
		out = slices.DeleteFunc(out, func(a string) bool { return a == n.APIAddr })
	}
	return out
}

// members lists the API addresses of the Raft members, best first.
func (f *stateFollower) members() []string {
	st := f.store.State()
	// Between streams the store no longer vouches for a leader; the one
	// the last stream named still ranks last, or a failover would as
	// likely land on the leader as on any voter.
	_, leader := f.store.Leader()
	if leader == "" {
		leader = f.lastLeader.Load()
	} else {
		f.lastLeader.Store(leader)
	}
	servers := f.store.StreamServers()
	rank := func(s consensus.Server) int {
		switch {
		case s.ID == leader:
			return 2
		case s.Voter:
			return 1
		}
		return 0
	}
	slices.SortFunc(servers, func(a, b consensus.Server) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(spread(f.self, a.ID), spread(f.self, b.ID)))
	})
	var out []string
	add := func(addr string) {
		if addr != "" && !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	for _, s := range servers {
		if s.ID == f.self {
			continue
		}
		if n, ok := st.Node(s.ID); ok {
			add(n.APIAddr)
		}
	}
	return out
}

// spread orders members differently for each follower.
func spread(self, id string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(self + "\x00" + id))
	return h.Sum32()
}

// followFrom follows addr's stream until it ends, goes silent, or Raft
// takes over this agent's state.
func (f *stateFollower) followFrom(ctx context.Context, addr string, silence time.Duration) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	view := f.wantsView()
	since := f.store.State().Index()
	if view != f.store.HoldsView() {
		since = 0 // from the whole state to a view or back: afresh
	}
	q := url.Values{"index": {strconv.FormatUint(since, 10)}}
	if view {
		q.Set("view", f.self)
	}
	u := url.URL{Scheme: "https", Host: addr, Path: api.PathPrefix + "/internal/stream", RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("state stream from %s: %w", addr, err)
	}
	started := time.Now()
	go f.watch(ctx, cancel, addr, started, silence)
	resp, err := f.http.Do(req)
	if err != nil {
		return fmt.Errorf("state stream from %s: %w", addr, cmp.Or(context.Cause(ctx), err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var red api.StreamRedirect
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&red)
		for _, a := range red.Servers {
			if !slices.Contains(f.redirects, a) {
				f.redirects = append(f.redirects, a)
			}
		}
		if f.metrics != nil {
			f.metrics.streams.WithLabelValues("refused").Inc()
		}
		if resp.StatusCode == http.StatusForbidden && !view && f.wholeState && !f.wholeRefused.Swap(true) {
			f.log.Warn("state stream: the members serve this agent only its node's view (--whole-state is for agents that held Raft)", "member", addr, "err", red.Error)
		}
		return fmt.Errorf("state stream from %s: %s: %s", addr, resp.Status, red.Error)
	}
	ended := f.metrics.streamStarted(addr)
	f.current.Store(addr)
	err = f.store.Follow(ctx, resp.Body)
	f.current.Store("")
	if c := context.Cause(ctx); c != nil {
		err = c
	}
	ended(err)
	return err
}

var (
	errStreamSilent = errors.New("the member sent nothing for too long")
	errRaftLive     = errors.New("raft feeds this agent's state again")
	errRebalance    = errors.New("moving to the preferred member")
)

// watch cuts the stream when it goes silent or Raft is live again, or
// moves the follower to its preferred member once it is caught up.
func (f *stateFollower) watch(ctx context.Context, cancel context.CancelCauseFunc, addr string, started time.Time, silence time.Duration) {
	rebalance := cmp.Or(f.rebalance, 30*time.Second)
	tick := time.NewTicker(max(silence/5, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if f.store.RaftLive() {
			cancel(errRaftLive)
			return
		}
		last := f.store.Heard()
		if last.Before(started) {
			last = started
		}
		if time.Since(last) > silence {
			cancel(errStreamSilent)
			return
		}
		if time.Since(started) > rebalance && f.store.CaughtUp() {
			if m := f.members(); len(m) > 0 && m[0] != addr {
				cancel(errRebalance)
				return
			}
		}
	}
}

// joinAPIAddrs is --join with the default API port where none was given.
func joinAPIAddrs(join []string) []string {
	out := make([]string, 0, len(join))
	for _, a := range join {
		out = append(out, withDefaultAPIPort(a))
	}
	return out
}
