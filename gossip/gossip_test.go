package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"shoal/internal/poll"
)

// testKey is the gossip key of newNode's nodes.
var testKey = bytes.Repeat([]byte{0x5a}, 32)

// mustKey returns a fresh random gossip key.
func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testLogger is quiet unless SHOAL_TEST_LOG is set: memberlist's debug
// chatter would drown the test output.
func testLogger() *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newNode starts a node on a free loopback port with the test profile;
// fn adjusts the config. It is shut down when the test ends.
func newNode(t *testing.T, name string, fn func(*Config)) *Gossip {
	t.Helper()
	cfg := Config{
		NodeName: name,
		BindAddr: "127.0.0.1",
		BindPort: EphemeralPort,
		Keys:     [][]byte{testKey},
		Profile:  ProfileTest,
		Meta:     NodeMeta{APIPort: 7948, RaftPort: 7947, MilliCPU: 4000, Memory: 8 << 30, Zone: "z-" + name, Version: "test"},
		Logger:   testLogger(),
	}
	if fn != nil {
		fn(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = g.Shutdown() })
	return g
}

// holdsFor checks that cond stays "" for all of d: a negative property
// (nothing merges) can only be shown by watching for a while.
func holdsFor(t *testing.T, d time.Duration, cond func() string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if why := cond(); why != "" {
			t.Fatal(why)
		}
	}
}

// states returns name → state of g's members.
func states(g *Gossip) map[string]State {
	out := map[string]State{}
	for _, m := range g.Members() {
		out[m.Name] = m.State
	}
	return out
}

// allSee waits until every node sees exactly want (name → state).
func allSee(t *testing.T, timeout time.Duration, nodes []*Gossip, want map[string]State) {
	t.Helper()
	poll.Until(t, timeout, fmt.Sprint("every node to see ", want), func() (bool, string) {
		for _, g := range nodes {
			if got := states(g); fmt.Sprint(got) != fmt.Sprint(want) {
				return false, fmt.Sprintf("%s sees %v, want %v", g.cfg.NodeName, got, want)
			}
		}
		return true, ""
	})
}

// cluster3 starts a, b, c and joins b and c through a.
func cluster3(t *testing.T, fn func(*Config)) []*Gossip {
	t.Helper()
	a, b, c := newNode(t, "a", fn), newNode(t, "b", fn), newNode(t, "c", fn)
	start := time.Now()
	for _, g := range []*Gossip{b, c} {
		n, err := g.Join(context.Background(), []string{a.LocalNode().Addr})
		if err != nil || n != 1 {
			t.Fatalf("%s joins a: n=%d err=%v", g.cfg.NodeName, n, err)
		}
	}
	nodes := []*Gossip{a, b, c}
	allSee(t, 10*time.Second, nodes, map[string]State{"a": StateAlive, "b": StateAlive, "c": StateAlive})
	t.Logf("3 nodes converged %s after the first join", time.Since(start).Round(time.Millisecond))
	return nodes
}

// eventLog collects a node's events in the background.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func collect(g *Gossip) *eventLog {
	l := &eventLog{}
	go func() {
		for e := range g.Events() {
			l.mu.Lock()
			l.events = append(l.events, e)
			l.mu.Unlock()
		}
	}()
	return l
}

// types returns the types of the events about member name, in order.
func (l *eventLog) types(name string) []EventType {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []EventType
	for _, e := range l.events {
		if e.Member.Name == name {
			out = append(out, e.Type)
		}
	}
	return out
}

func TestThreeNodesJoinThroughOneSeed(t *testing.T) {
	nodes := cluster3(t, nil)
	for _, g := range nodes {
		for _, m := range g.Members() {
			if m.Meta.Zone != "z-"+m.Name || m.Meta.APIPort != 7948 || m.Meta.MilliCPU != 4000 || m.Meta.Memory != 8<<30 {
				t.Errorf("%s sees %s with meta %+v", g.cfg.NodeName, m.Name, m.Meta)
			}
			if m.Meta.Address != "127.0.0.1" || !strings.HasPrefix(m.Addr, "127.0.0.1:") {
				t.Errorf("%s sees %s at %q / meta address %q", g.cfg.NodeName, m.Name, m.Addr, m.Meta.Address)
			}
			if m.StateSince.IsZero() {
				t.Errorf("%s: %s has no StateSince", g.cfg.NodeName, m.Name)
			}
		}
	}
	if l := nodes[1].LocalNode(); l.Name != "b" || l.State != StateAlive {
		t.Fatalf("LocalNode: %+v", l)
	}
}

func TestMockNetworkTransport(t *testing.T) {
	var mn memberlist.MockNetwork
	var nodes []*Gossip
	for _, name := range []string{"m1", "m2", "m3"} {
		tr := mn.NewTransport(name) // MockNetwork is not safe for concurrent use: create in sequence
		nodes = append(nodes, newNode(t, name, func(c *Config) { c.Transport = tr }))
	}
	for _, g := range nodes[1:] {
		if _, err := g.Join(context.Background(), []string{nodes[0].LocalNode().Addr}); err != nil {
			t.Fatalf("join over the mock network: %v", err)
		}
	}
	allSee(t, 10*time.Second, nodes, map[string]State{"m1": StateAlive, "m2": StateAlive, "m3": StateAlive})
}

func TestMetaUpdatePropagates(t *testing.T) {
	nodes := cluster3(t, nil)
	ev := collect(nodes[0])
	meta := nodes[2].LocalNode().Meta
	meta.GPUs, meta.GPUModel, meta.Role, meta.PodCIDR = 2, "NVIDIA H200", "voter", "10.88.3.0/24"
	start := time.Now()
	if err := nodes[2].UpdateMeta(meta); err != nil {
		t.Fatalf("update meta: %v", err)
	}
	poll.Until(t, 10*time.Second, "c's meta update everywhere", func() (bool, string) {
		for _, g := range nodes {
			for _, m := range g.Members() {
				if m.Name == "c" && (m.Meta.GPUs != 2 || m.Meta.PodCIDR != "10.88.3.0/24") {
					return false, fmt.Sprintf("%s sees c with %+v", g.cfg.NodeName, m.Meta)
				}
			}
		}
		return true, ""
	})
	t.Logf("meta update seen everywhere after %s", time.Since(start).Round(time.Millisecond))
	poll.Until(t, 5*time.Second, "a's update event about c", func() (bool, string) {
		if got := ev.types("c"); len(got) == 0 || got[len(got)-1] != EventUpdate {
			return false, fmt.Sprintf("a's events about c: %v, want an update", got)
		}
		return true, ""
	})
	bad := meta
	bad.Zone = strings.Repeat("z", 600)
	if err := nodes[2].UpdateMeta(bad); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("oversize update: err %v, want ErrMetaTooLarge", err)
	}
}

func TestShutdownWithoutLeaveIsSuspectThenDead(t *testing.T) {
	nodes := cluster3(t, nil)
	evA, evB := collect(nodes[0]), collect(nodes[1])
	killed := time.Now()
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	var suspectAt time.Duration
	poll.Until(t, 10*time.Second, "both peers to see c suspect, then failed", func() (bool, string) {
		for i, l := range []*eventLog{evA, evB} {
			got := l.types("c")
			si, fi := index(got, EventSuspect), index(got, EventFail)
			if si < 0 || fi < 0 {
				return false, fmt.Sprintf("%s's events about c: %v, want suspect then fail", nodes[i].cfg.NodeName, got)
			}
			if si > fi {
				t.Fatalf("%s saw c fail before suspect: %v", nodes[i].cfg.NodeName, got)
			}
			if suspectAt == 0 {
				suspectAt = time.Since(killed)
			}
		}
		return true, ""
	})
	t.Logf("killed c seen suspect and dead by both peers within %s", time.Since(killed).Round(time.Millisecond))
	for _, g := range nodes[:2] {
		m := memberOf(g, "c")
		if m.State != StateDead || m.StateSince.Before(killed) {
			t.Fatalf("%s sees c as %+v", g.cfg.NodeName, m)
		}
		if states(g)["a"] != StateAlive || states(g)["b"] != StateAlive {
			t.Fatalf("%s: survivors %v", g.cfg.NodeName, states(g))
		}
	}
}

func TestSuspectRecovers(t *testing.T) {
	nodes := cluster3(t, nil)
	a := nodes[0]
	// Fake two failed pings from a to b: the next answered ping must bring
	// b back to alive with an EventAlive.
	ev := collect(a)
	// The watcher's real pings may reset the count between ours: repeat.
	poll.Until(t, 5*time.Second, "a to suspect b", func() (bool, string) {
		a.pinged("b", false)
		if s := states(a)["b"]; s != StateSuspect {
			return false, "b not suspect after failed pings: " + string(s)
		}
		return true, ""
	})
	poll.Until(t, 5*time.Second, "b alive again", func() (bool, string) {
		if s := states(a)["b"]; s != StateAlive {
			return false, "b still " + string(s)
		}
		return true, ""
	})
	poll.Until(t, 5*time.Second, "a's suspect and alive events about b", func() (bool, string) {
		if got := ev.types("b"); index(got, EventSuspect) < 0 || index(got, EventAlive) < index(got, EventSuspect) {
			return false, fmt.Sprintf("events about b: %v", got)
		}
		return true, ""
	})
}

func TestGracefulLeave(t *testing.T) {
	nodes := cluster3(t, nil)
	ev := collect(nodes[0])
	if err := nodes[2].Leave(5 * time.Second); err != nil {
		t.Fatalf("leave: %v", err)
	}
	allSee(t, 10*time.Second, nodes[:2], map[string]State{"a": StateAlive, "b": StateAlive, "c": StateLeft})
	if got := ev.types("c"); index(got, EventLeave) < 0 || index(got, EventFail) >= 0 {
		t.Fatalf("a's events about c: %v, want leave and no fail", got)
	}
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Fatalf("leave after shutdown: %v", err)
	}
}

func TestWrongKeyCannotJoinNorBeJoined(t *testing.T) {
	nodes := cluster3(t, nil)
	for _, tc := range []struct {
		name string // of the case and of the intruder
		keys [][]byte
		// alone: the intruder learns nobody. One that holds the cluster's
		// key as a secondary can read a member that joins it, though it
		// still cannot answer (it encrypts with its primary).
		alone bool
	}{
		{"another-key", [][]byte{bytes.Repeat([]byte{0xa5}, 32)}, true},
		{"another-primary", [][]byte{bytes.Repeat([]byte{0xa5}, 32), testKey}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			intruder := newNode(t, tc.name, func(c *Config) { c.Keys = tc.keys })

			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := intruder.Join(ctx, []string{nodes[0].LocalNode().Addr})
			if !errors.Is(err, ErrJoin) {
				t.Fatalf("join with a wrong key: err %v, want ErrJoin", err)
			}
			want := "no member accepted the join: the gossip key may be wrong or the address unreachable: "
			if !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q does not start with %q", err, want)
			}
			t.Logf("wrong-key join refused after %s: %v", time.Since(start).Round(time.Millisecond), err)

			if _, err := nodes[1].Join(ctx, []string{intruder.LocalNode().Addr}); !errors.Is(err, ErrJoin) {
				t.Fatalf("joining the intruder: err %v, want ErrJoin", err)
			}
			// Nobody merged, and it stays so over many probe and push/pull
			// rounds. Names, not states, are compared: on a loaded machine
			// the test profile's fast probes may suspect a member for a
			// moment, which says nothing about the intruder.
			holdsFor(t, 2*time.Second, func() string {
				for _, g := range nodes {
					if got := slices.Sorted(maps.Keys(states(g))); !slices.Equal(got, []string{"a", "b", "c"}) {
						return fmt.Sprintf("%s sees %v", g.cfg.NodeName, got)
					}
				}
				if got := slices.Sorted(maps.Keys(states(intruder))); tc.alone && !slices.Equal(got, []string{tc.name}) {
					return fmt.Sprintf("intruder sees %v", got)
				}
				return ""
			})
		})
	}
}

func TestJoinErrors(t *testing.T) {
	g := newNode(t, "lonely", nil)
	if _, err := g.Join(context.Background(), nil); !errors.Is(err, ErrJoin) {
		t.Fatalf("join with no seeds: %v", err)
	}
	// A port nobody listens on: refused at once, with the clear error.
	if _, err := g.Join(context.Background(), []string{"127.0.0.1:1"}); !errors.Is(err, ErrJoin) {
		t.Fatalf("join of a closed port: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Join(ctx, []string{"127.0.0.1:1"}); err == nil {
		t.Fatal("join with a cancelled context succeeded")
	}
}

func TestEventsNeverBlock(t *testing.T) {
	// Nobody reads a's events and the buffer holds one: membership must
	// still converge and updates keep flowing.
	nodes := cluster3(t, func(c *Config) {
		c.EventBuffer = 1
		// A bound, not a goal: each update waits for its broadcast to
		// leave, which a loaded machine running -race can take seconds.
		c.UpdateTimeout = 30 * time.Second
	})
	for i := range 20 {
		meta := nodes[1].LocalNode().Meta
		meta.MilliCPU = int64(1000 + i)
		// What this test is about is a's full event buffer, not how fast
		// b's broadcasts leave: an update that times out waiting for its
		// broadcast is still queued, and the check below sees it arrive.
		if err := nodes[1].UpdateMeta(meta); err != nil && !errors.Is(err, ErrUpdateTimeout) {
			t.Fatal(err)
		} else if err != nil {
			t.Logf("update %d: %v", i, err)
		}
	}
	poll.Until(t, 30*time.Second, "b's last meta update at a", func() (bool, string) {
		if m := memberOf(nodes[0], "b"); m.Meta.MilliCPU != 1019 {
			return false, fmt.Sprintf("a sees b's cpu %d", m.Meta.MilliCPU)
		}
		return true, ""
	})
	if nodes[0].Dropped() == 0 {
		t.Fatal("no event counted as dropped")
	}
	if n := len(nodes[0].Events()); n != 1 {
		t.Fatalf("%d events buffered, want the newest 1", n)
	}
}

func TestEmitDropsOldest(t *testing.T) {
	g := &Gossip{events: make(chan Event, 3)}
	for i := range 10 {
		g.emit(Event{Type: EventUpdate, Member: Member{Name: fmt.Sprint(i)}})
	}
	if g.Dropped() != 7 {
		t.Fatalf("dropped %d, want 7", g.Dropped())
	}
	for _, want := range []string{"7", "8", "9"} {
		if e := <-g.events; e.Member.Name != want {
			t.Fatalf("got %s, want %s", e.Member.Name, want)
		}
	}
}

// TestLANProfileFailureDetection checks the default (LAN) timings detect
// a dead member; it takes several seconds.
func TestLANProfileFailureDetection(t *testing.T) {
	nodes := cluster3(t, func(c *Config) { c.Profile = ProfileLAN })
	evA := collect(nodes[0])
	killed := time.Now()
	_ = nodes[2].Shutdown()
	var suspect time.Duration
	poll.Until(t, 60*time.Second, "a to see c fail", func() (bool, string) {
		got := evA.types("c")
		if suspect == 0 && index(got, EventSuspect) >= 0 {
			suspect = time.Since(killed)
		}
		if index(got, EventFail) < 0 {
			return false, fmt.Sprintf("a's events about c: %v", got)
		}
		return true, ""
	})
	t.Logf("LAN profile: c suspect after %s, dead after %s", suspect.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
}

func index(ts []EventType, t EventType) int {
	for i, x := range ts {
		if x == t {
			return i
		}
	}
	return -1
}

func memberOf(g *Gossip, name string) Member {
	for _, m := range g.Members() {
		if m.Name == name {
			return m
		}
	}
	return Member{}
}
