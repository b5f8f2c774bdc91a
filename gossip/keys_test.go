package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewKeyAndEncoding(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	if len(k1) != 32 || bytes.Equal(k1, k2) {
		t.Fatalf("keys %x and %x", k1, k2)
	}
	ring := [][]byte{k1, k2, make([]byte, 16), make([]byte, 24)}
	enc := EncodeKeys(ring)
	if len(enc) != 4 || enc[2] != "AAAAAAAAAAAAAAAAAAAAAA==" {
		t.Fatalf("encoded %q", enc)
	}
	got, err := DecodeKeys(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, ring, bytes.Equal) {
		t.Fatalf("round trip: %x, want %x", got, ring)
	}
}

func TestDecodeKeysErrors(t *testing.T) {
	good := EncodeKeys([][]byte{testKey})[0]
	for _, tc := range []struct {
		name string
		in   []string
		want string // in the error
	}{
		{"nil", nil, "no gossip key"},
		{"empty", []string{}, "no gossip key"},
		{"not base64", []string{good, "not base64!"}, "key 1 is not base64"},
		{"URL alphabet", []string{good, good, strings.Repeat("_", 43) + "="}, "key 2 is not base64"},
		{"repeated", []string{good, good}, "key 1 repeats key 0"},
		{"too short", []string{good, "c2hvcnQ="}, "key 1 is 5 bytes"},
		{"too long", []string{EncodeKeys([][]byte{make([]byte, 33)})[0]}, "key 0 is 33 bytes"},
		{"empty entry", []string{good, ""}, "key 1 is 0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := DecodeKeys(tc.in)
			if !errors.Is(err, ErrKeyring) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %x, err %v; want ErrKeyring saying %q", keys, err, tc.want)
			}
		})
	}
}

// ringIDs names the keys of a ring by their index in all, for messages.
func ringIDs(ring, all [][]byte) string {
	var out []string
	for _, k := range ring {
		i := slices.IndexFunc(all, func(x []byte) bool { return bytes.Equal(x, k) })
		out = append(out, fmt.Sprint(i))
	}
	return "[" + strings.Join(out, " ") + "]"
}

func TestSetKeys(t *testing.T) {
	k := [][]byte{mustKey(t), mustKey(t), mustKey(t), make([]byte, 16)}
	a, b, c, d := k[0], k[1], k[2], k[3]
	g := newNode(t, "a", func(cfg *Config) { cfg.Keys = [][]byte{a} })
	if got := g.Keys(); !slices.EqualFunc(got, [][]byte{a}, bytes.Equal) {
		t.Fatalf("initial ring %s", ringIDs(got, k))
	}
	for _, tc := range []struct {
		name      string
		from, set [][]byte
		want      [][]byte // Keys afterwards
	}{
		{"install", [][]byte{a}, [][]byte{a, b}, [][]byte{a, b}},
		{"switch", [][]byte{a, b}, [][]byte{b, a}, [][]byte{b, a}},
		{"drop", [][]byte{b, a}, [][]byte{b}, [][]byte{b}},
		{"replace at once", [][]byte{a}, [][]byte{b}, [][]byte{b}},
		{"unchanged", [][]byte{a, b}, [][]byte{a, b}, [][]byte{a, b}},
		{"secondaries in another order", [][]byte{a, b, c}, [][]byte{a, c, b}, [][]byte{a, b, c}},
		{"drop from the middle", [][]byte{a, b, c}, [][]byte{a, c}, [][]byte{a, c}},
		{"drop the old primary", [][]byte{a, b, c}, [][]byte{c, b}, [][]byte{c, b}},
		{"everything new", [][]byte{a, b}, [][]byte{c, d}, [][]byte{c, d}},
		{"AES-128 primary", [][]byte{a}, [][]byte{d, a}, [][]byte{d, a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// From its primary alone, the ring takes the keys in order.
			for _, ring := range [][][]byte{tc.from[:1], tc.from} {
				if err := g.SetKeys(ring); err != nil {
					t.Fatalf("set %s: %v", ringIDs(ring, k), err)
				}
			}
			if got := g.Keys(); !slices.EqualFunc(got, tc.from, bytes.Equal) {
				t.Fatalf("set %s, got %s", ringIDs(tc.from, k), ringIDs(got, k))
			}
			if err := g.SetKeys(tc.set); err != nil {
				t.Fatalf("set %s: %v", ringIDs(tc.set, k), err)
			}
			if got := g.Keys(); !slices.EqualFunc(got, tc.want, bytes.Equal) {
				t.Fatalf("%s then %s gives %s, want %s", ringIDs(tc.from, k), ringIDs(tc.set, k), ringIDs(got, k), ringIDs(tc.want, k))
			}
		})
	}

	// Neither the caller's slices nor Keys' result alias the ring.
	in := [][]byte{bytes.Clone(a), bytes.Clone(b)}
	if err := g.SetKeys(in); err != nil {
		t.Fatal(err)
	}
	in[0][0]++
	in[1] = c
	out := g.Keys()
	out[0][0]++
	if got := g.Keys(); !slices.EqualFunc(got, [][]byte{a, b}, bytes.Equal) {
		t.Fatalf("the ring changed behind SetKeys: %s", ringIDs(got, k))
	}

	// A bad ring is refused whole.
	for _, bad := range []struct {
		keys [][]byte
		want string
	}{
		{nil, "no gossip key"},
		{[][]byte{c, a[:31]}, "key 1 is 31 bytes"},
		{[][]byte{c, a, c}, "key 2 repeats key 0"},
	} {
		err := g.SetKeys(bad.keys)
		if !errors.Is(err, ErrKeyring) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("SetKeys(%x): err %v, want ErrKeyring saying %q", bad.keys, err, bad.want)
		}
	}
	if got := g.Keys(); !slices.EqualFunc(got, [][]byte{a, b}, bytes.Equal) {
		t.Fatalf("a refused ring changed the ring to %s", ringIDs(got, k))
	}
}

// TestSetKeysConcurrent changes a's ring from several goroutines while the
// cluster talks, and b reads it: -race checks the keyring's locking. Every
// ring holds k1, which b encrypts with, and b holds every key a may encrypt
// with, so membership must hold throughout.
func TestSetKeysConcurrent(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	keys := func(c *Config) { c.Keys = [][]byte{k1, k2} }
	a, b := newNode(t, "a", keys), newNode(t, "b", keys)
	if _, err := b.Join(context.Background(), []string{a.LocalNode().Addr}); err != nil {
		t.Fatal(err)
	}
	nodes := []*Gossip{a, b}
	allSee(t, 10*time.Second, nodes, map[string]State{"a": StateAlive, "b": StateAlive})
	evB := collect(b)
	rings := [][][]byte{{k1, k2}, {k2, k1}, {k1}}
	var wg sync.WaitGroup
	stop := time.Now().Add(time.Second)
	for w := range 3 {
		wg.Go(func() {
			for i := w; time.Now().Before(stop); i++ {
				if err := a.SetKeys(rings[i%len(rings)]); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for time.Now().Before(stop) {
			if ring := a.Keys(); len(ring) == 0 || !slices.ContainsFunc(ring, func(k []byte) bool { return bytes.Equal(k, k1) }) {
				t.Errorf("a's ring without k1: %d keys", len(ring))
				return
			}
		}
	})
	wg.Wait()
	if got := evB.types("a"); index(got, EventFail) >= 0 {
		t.Fatalf("b's events about a: %v", got)
	}
	allSee(t, 10*time.Second, nodes, map[string]State{"a": StateAlive, "b": StateAlive})
}

// TestKeyRotation rotates a 3-member cluster's key the way the agent does,
// in three rounds, each finished on every member before the next: install
// the new key, encrypt with it, forget the old one. After the first member
// of each round, the cluster stays half-way for longer than it takes
// memberlist to declare a member it cannot read dead, and nobody may be
// seen failing. Afterwards only the new key opens the cluster.
func TestKeyRotation(t *testing.T) {
	old, next := mustKey(t), mustKey(t)
	nodes := cluster3(t, func(c *Config) { c.Keys = [][]byte{old} })
	var logs []*eventLog
	for _, g := range nodes {
		logs = append(logs, collect(g))
	}
	intact := func() string {
		for i, g := range nodes {
			if got := slices.Sorted(maps.Keys(states(g))); !slices.Equal(got, []string{"a", "b", "c"}) {
				return fmt.Sprintf("%s sees %v", g.cfg.NodeName, got)
			}
			for _, m := range []string{"a", "b", "c"} {
				if got := logs[i].types(m); index(got, EventFail) >= 0 || index(got, EventLeave) >= 0 {
					return fmt.Sprintf("%s's events about %s: %v", g.cfg.NodeName, m, got)
				}
			}
		}
		return ""
	}
	start := time.Now()
	for _, round := range []struct {
		name string
		keys [][]byte
	}{
		{"install", [][]byte{old, next}},
		{"switch", [][]byte{next, old}},
		{"forget", [][]byte{next}},
	} {
		for i, g := range nodes {
			if err := g.SetKeys(round.keys); err != nil {
				t.Fatalf("%s: %s: %v", round.name, g.cfg.NodeName, err)
			}
			if got := g.Keys(); !slices.EqualFunc(got, round.keys, bytes.Equal) {
				t.Fatalf("%s: %s's ring %s", round.name, g.cfg.NodeName, ringIDs(got, [][]byte{old, next}))
			}
			switch i {
			case 0:
				// Probes time out, suspicion (4 probe intervals, up to twice
				// that) expires, and a push/pull (every second) runs.
				holdsFor(t, 1200*time.Millisecond, intact)
			default:
				holdsFor(t, 200*time.Millisecond, intact)
			}
		}
	}
	allSee(t, 10*time.Second, nodes, map[string]State{"a": StateAlive, "b": StateAlive, "c": StateAlive})
	t.Logf("rotated in %s", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stale := newNode(t, "stale", func(c *Config) { c.Keys = [][]byte{old} })
	if _, err := stale.Join(ctx, []string{nodes[0].LocalNode().Addr}); !errors.Is(err, ErrJoin) {
		t.Fatalf("join with the old key: err %v, want ErrJoin", err)
	}
	d := newNode(t, "d", func(c *Config) { c.Keys = [][]byte{next} })
	if _, err := d.Join(ctx, []string{nodes[1].LocalNode().Addr}); err != nil {
		t.Fatalf("join with the new key: %v", err)
	}
	allSee(t, 10*time.Second, append(nodes, d), map[string]State{"a": StateAlive, "b": StateAlive, "c": StateAlive, "d": StateAlive})
	holdsFor(t, time.Second, func() string {
		if got := slices.Sorted(maps.Keys(states(stale))); !slices.Equal(got, []string{"stale"}) {
			return fmt.Sprintf("stale sees %v", got)
		}
		return ""
	})
}
