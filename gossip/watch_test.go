package gossip

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// watcherOf is a Gossip with only what the watcher's bookkeeping reads:
// members recorded as memberlist's callbacks record them.
func watcherOf(self string, names ...string) *Gossip {
	g := &Gossip{cfg: Config{NodeName: self, Tombstone: time.Hour}, log: slog.New(slog.DiscardHandler),
		members: map[string]*member{}, leaving: map[string]time.Time{}}
	for i, name := range append([]string{self}, names...) {
		g.mu.Lock()
		g.record(&memberlist.Node{Name: name, Addr: net.IPv4(127, 0, byte(i>>8), byte(i)), Port: 7946}).State = StateAlive
		g.mu.Unlock()
	}
	return g
}

func (g *Gossip) targetNames() string {
	var out []string
	for _, t := range g.pickTargets() {
		out = append(out, t.name)
	}
	return strings.Join(out, ",")
}

// TestWatchRoundRobin: the watcher pings watchFanout live peers a tick, in
// name order and round robin, never itself, a dead or left member, or one
// name twice in a tick, and a member joining or going does not reset the
// walk.
func TestWatchRoundRobin(t *testing.T) {
	type step struct {
		do   func(g *Gossip) // before the tick (nil: nothing)
		want string
	}
	state := func(name string, s State) func(*Gossip) {
		return func(g *Gossip) { g.members[name].State = s }
	}
	join := func(name string) func(*Gossip) {
		return func(g *Gossip) {
			g.record(&memberlist.Node{Name: name, Addr: net.IPv4(127, 1, 0, 1), Port: 7946}).State = StateAlive
		}
	}
	tests := []struct {
		name    string
		members []string
		steps   []step
	}{
		{"none", nil, []step{{nil, ""}}},
		{"fewer than the fanout", []string{"b", "a"}, []step{{nil, "a,b"}, {nil, "a,b"}}},
		{"round robin", []string{"e", "d", "c", "b", "a"}, []step{{nil, "a,b,c"}, {nil, "d,e,a"}, {nil, "b,c,d"}}},
		{"skips dead, left and self; keeps suspect", []string{"a", "b", "c", "d", "e"}, []step{
			{state("b", StateDead), "a,c,d"},
			{func(g *Gossip) { state("e", StateLeft)(g); state("a", StateSuspect)(g) }, "a,c,d"},
		}},
		{"a join does not reset the walk", []string{"a", "b", "c", "d"}, []step{
			{nil, "a,b,c"}, {join("bb"), "d,a,b"}, {nil, "bb,c,d"},
		}},
		{"the last target gone", []string{"a", "b", "c", "d", "e"}, []step{
			{nil, "a,b,c"},
			{func(g *Gossip) {
				g.members["c"].State, g.members["c"].StateSince = StateDead, time.Now().Add(-2*time.Hour)
				g.pruneTombstones()
			}, "d,e,a"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := watcherOf("m", tt.members...)
			for i, st := range tt.steps {
				if st.do != nil {
					st.do(g) // one goroutine: no lock (pruneTombstones takes it)
				}
				if got := g.targetNames(); got != st.want {
					t.Fatalf("tick %d: pinged %q, want %q", i, got, st.want)
				}
			}
		})
	}
}

// TestPruneTombstones: a member dead or left for longer than Tombstone is
// forgotten, by Members and by the watcher's order; a fresh one is kept;
// the sweep runs at most every tenth of a Tombstone.
func TestPruneTombstones(t *testing.T) {
	g := watcherOf("m", "a", "b", "c")
	old := time.Now().Add(-2 * time.Hour)
	g.members["a"].State, g.members["a"].StateSince = StateDead, old
	g.members["b"].State, g.members["b"].StateSince = StateLeft, time.Now()
	g.pruneTombstones()
	if _, ok := g.members["a"]; ok || slices.Contains(g.order, "a") {
		t.Fatalf("a dead since %v is still known: order %v", old, g.order)
	}
	if !slices.Equal(g.order, []string{"b", "c"}) {
		t.Fatalf("order %v, want [b c]", g.order)
	}
	g.members["b"].StateSince = old
	g.pruneTombstones() // within a tenth of a Tombstone of the last sweep
	if _, ok := g.members["b"]; !ok {
		t.Fatal("swept again right after a sweep")
	}
	g.prunedAt = time.Now().Add(-g.cfg.Tombstone / 5)
	g.pruneTombstones()
	if _, ok := g.members["b"]; ok || !slices.Equal(g.order, []string{"c"}) {
		t.Fatalf("b left since %v is still known: order %v", old, g.order)
	}
}

// BenchmarkPickTargets is the watcher's tick at cluster sizes up to the
// 5,000 members Shoal aims at.
func BenchmarkPickTargets(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("node-%05d", i)
		}
		g := watcherOf("self", names...)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g.pruneTombstones()
				g.pickTargets()
			}
		})
	}
}
