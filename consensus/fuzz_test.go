package consensus

import (
	"bytes"
	"errors"
	"io"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"shoal/cluster"
)

// The Raft log and snapshots are replicated bytes: another member wrote
// them, maybe an agent of another version, and a disk may have damaged
// them. These targets check that decoding them never panics: Apply halts
// on a corrupt entry (see fsm.Apply) with an error that names the entry.

// fuzzSetup gives a small state with an object of every kind, for the
// fuzzed commands to find what they name.
func fuzzSetup() []Command {
	return []Command{
		&SetConfig{Config: cluster.Config{ClusterID: "c1"}},
		&PutNode{Node: testNode("a", 4000, 8<<30, "GPU-a")},
		&PutNode{Node: testNode("b", 4000, 8<<30)},
		&PutWorkload{Workload: testWorkload("web", 2, "nginx:1")},
		&PutService{Service: &cluster.Service{Name: "web", UID: "s1", Selector: map[string]string{"app": "web"},
			Ports: []cluster.ServicePort{{Port: 80, TargetPort: 8080}}}},
		&ApplyPlan{Plan: &cluster.Plan{Create: []*cluster.Pod{
			owned(testPod("web-1", 100, 1<<20, 0), "a"), testPod("bare", 100, 1<<20, 0), stsPod("u1", "b"),
		}}},
		&InitTrust{Trust: testTrust()},
		&PutToken{Token: testToken("t1", "ci", cluster.RoleView)},
	}
}

// fuzzCommands is one of every command, on fuzzSetup's objects.
func fuzzCommands() []Command {
	sts := testWorkload("db", 1, "postgres:16")
	sts.Kind = cluster.KindStatefulSet
	sts.VolumeClaimTemplates = []cluster.ClaimSource{{ClaimName: "data", Storage: 1 << 30}}
	return []Command{
		&SetConfig{Config: cluster.Config{ClusterID: "c1", ClusterCIDR: "10.0.0.0/8", ServiceCIDR: "172.30.0.0/16"}},
		&PutWorkload{Workload: sts},
		&DeleteWorkload{Kind: cluster.KindDeployment, Namespace: "default", Name: "web"},
		&PutService{Service: &cluster.Service{Name: "db", UID: "s2", Selector: map[string]string{"app": "db"}}},
		&DeleteService{Namespace: "default", Name: "web"},
		&PutPods{Pods: []*cluster.Pod{placed(testPod("p", 100, 0, 0), "a")}},
		&TerminatePods{Pods: []cluster.PodRef{ref("web-1"), ref("bare")}},
		&ApplyPlan{Plan: &cluster.Plan{
			Create:    []*cluster.Pod{owned(testPod("web-2", 100, 1<<20, 1), "")},
			Place:     []cluster.Placement{{Pod: ref("bare"), Node: "a", GPUs: []string{"GPU-a"}}},
			Pending:   []cluster.PendingReason{{Pod: ref("web-2"), Message: "0/2 nodes are available"}},
			Terminate: []cluster.PodRef{ref("web-1")},
			Delete:    []cluster.PodRef{{Namespace: "default", Name: "db-0", UID: "u1"}},
		}},
		&PodStatus{Node: "a", Updates: []cluster.PodStatusUpdate{{Ref: ref("web-1"), Status: cluster.PodStatus{
			Phase: cluster.PodRunning, PodIP: "10.0.1.2", Ready: true,
			Containers: []cluster.ContainerStatus{{Name: "c", State: cluster.ContainerRunning, RestartCount: 1}},
		}}}},
		&PutNode{Node: testNode("c", 1000, 1<<30)},
		&SetNodeSchedulable{Name: "a", Schedulable: false},
		&SetNodeStatus{Name: "b", Status: cluster.NodeDown},
		&DeleteNode{Name: "b"},
		&SetJoinSecret{Hash: strings.Repeat("b", 64)},
		&SetGossipKeys{Keys: []string{"bmV3", "b2xk"}},
		&PutToken{Token: testToken("t2", "alice", cluster.RoleEdit)},
		&DeleteToken{ID: "t1"},
		&SetPodSecurity{Level: "baseline", AllowedHostPaths: []string{"/srv/shoal"}},
		&PutObjects{Objects: []*cluster.Object{nsObj("shop"), cmObj("shop", "cfg"), cmObj("default", "cfg")}},
		&DeleteObject{Kind: cluster.KindConfigMap, Namespace: "default", Name: "cfg"},
		&DeleteObject{Kind: cluster.KindNamespace, Name: "shop"},
		&SetSecretKey{ID: "k2"},
		&EvictPods{Pods: []cluster.PodRef{ref("web-1"), ref("bare")}},
		&MarkRaftNodes{Nodes: []string{"b", "a"}},
	}
}

func mustEncode(tb testing.TB, cmds ...Command) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, c := range cmds {
		b, err := encodeCommand(c)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecodeCommand: a command that decodes encodes again to the same
// command.
func FuzzDecodeCommand(f *testing.F) {
	for _, b := range mustEncode(f, append(fuzzSetup(), fuzzCommands()...)...) {
		f.Add(b)
		f.Add(append([]byte{b[0] | byte(IgnoreUnknownTypeFlag)}, b[1:]...))
	}
	f.Add([]byte{byte(PutNodeType), 0xc1})
	f.Add([]byte{byte(IgnoreUnknownTypeFlag | 100), 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, c, known, err := decodeCommand(b)
		if !known || err != nil {
			if c != nil {
				t.Fatalf("a command returned with known=%v, err=%v", known, err)
			}
			return
		}
		if c.Type() != typ&^IgnoreUnknownTypeFlag {
			t.Fatalf("type byte %d decoded to a %s", typ, c.Type())
		}
		enc, err := encodeCommand(c)
		if err != nil {
			t.Fatalf("encode of a decoded %s: %v", c.Type(), err)
		}
		_, again, _, err := decodeCommand(enc)
		if err != nil {
			t.Fatalf("decode of a re-encoded %s: %v", c.Type(), err)
		}
		if a, b := canonical(t, again), canonical(t, c); !bytes.Equal(a, b) {
			t.Fatalf("round trip of a %s\n got %x\nwant %x", c.Type(), a, b)
		}
	})
}

// canonical encodes v with its map keys sorted: two values that encode
// alike are the same command. (reflect.DeepEqual would tell an empty list
// from a missing one, which the encoding leaves out alike.)
func canonical(t *testing.T, v any) []byte {
	h := &codec.MsgpackHandle{}
	h.WriteExt, h.Canonical = true, true
	var b []byte
	if err := codec.NewEncoderBytes(&b, h).Encode(v); err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return b
}

// FuzzDecodeBatch: the commands of a batch that decodes frame into a batch
// that decodes to them, and lie within the entry.
func FuzzDecodeBatch(f *testing.F) {
	cmds := mustEncode(f, fuzzCommands()...)
	for _, b := range [][]byte{
		encodeBatch(cmds), encodeBatch(cmds[:1]), encodeBatch(nil), encodeBatch([][]byte{{}, {1}}),
		encodeBatch(cmds)[:20], {0xff, 0xff, 0xff, 0xff, 0x0f}, {},
	} {
		f.Add(b[min(1, len(b)):]) // decodeBatch is given the entry after its type byte
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeBatch(b)
		if err != nil {
			return
		}
		n := 0
		for _, c := range got {
			n += len(c)
		}
		if n > len(b) {
			t.Fatalf("%d bytes of commands from a %d-byte batch", n, len(b))
		}
		again, err := decodeBatch(encodeBatch(got)[1:])
		if err != nil {
			t.Fatalf("decode of a re-encoded batch: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("%d commands, %d after a round trip", len(got), len(again))
		}
		for i := range got {
			if !bytes.Equal(again[i], got[i]) {
				t.Fatalf("command %d: %x, %x after a round trip", i, got[i], again[i])
			}
		}
	})
}

// FuzzApply: any log entry either applies or halts the FSM, leaving the
// state as it was, and the state it leaves snapshots and restores
// unchanged.
func FuzzApply(f *testing.F) {
	setup := encodeBatch(mustEncode(f, fuzzSetup()...))
	cmds := mustEncode(f, fuzzCommands()...)
	for _, c := range cmds {
		f.Add(c)
		f.Add(encodeBatch([][]byte{c}))
	}
	f.Add(encodeBatch(cmds))
	for typ := SetConfigType; typ <= maxCommandType; typ++ {
		f.Add([]byte{byte(typ), 0x80}) // every command with nothing in it
	}
	f.Add(encodeBatch([][]byte{{byte(IgnoreUnknownTypeFlag | 100), 0x80}, cmds[0]}))
	f.Add([]byte{byte(PutNodeType), 0xc1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarness(t)
		h.applyRaw(setup)
		if !applyOrHalt(t, h, data) {
			return
		}
		restored, err := readSnapshot(bytes.NewReader(persist(t, h.state())))
		if err != nil {
			t.Fatalf("restore of the snapshot: %v", err)
		}
		statesEqual(t, h.state(), restored)
	})
}

// applyOrHalt applies one entry, which must not panic, and reports
// whether it applied; one that cannot be applied must halt the FSM and
// leave the state as it was.
func applyOrHalt(t *testing.T, h *fsmHarness, data []byte) (applied bool) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Apply panicked: %v\n%s", r, debug.Stack())
		}
	}()
	before := h.state()
	rs := h.applyRaw(data)
	if err := h.f.haltErr(); err != nil {
		if h.state() != before || len(rs) != 1 || !errors.Is(rs[0].Err, ErrHalted) {
			t.Fatalf("a halting entry changed the state or answered %+v", rs)
		}
		return false
	}
	return true
}

// FuzzRestore: no snapshot may panic Restore; one it refuses leaves the
// state as it was, and one it takes persists and restores unchanged.
func FuzzRestore(f *testing.F) {
	h := newHarness(f)
	empty := persist(f, h.state())
	h.apply(fuzzSetup()...)
	h.apply(fuzzCommands()[:4]...)
	snap := persist(f, h.state())
	// The seed itself must restore to the state it was taken from.
	got, err := readSnapshot(bytes.NewReader(snap))
	if err != nil {
		f.Fatal(err)
	}
	statesEqual(f, h.state(), got)
	for _, b := range [][]byte{snap, empty, snap[:len(snap)/2], snap[:len(snap)-1], {recHeader}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := newFSM(testLogger(t))
		before := fs.state.Load()
		if err := fs.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
			if fs.state.Load() != before {
				t.Fatalf("a refused snapshot (%v) changed the state", err)
			}
			return
		}
		st := fs.state.Load()
		again, err := readSnapshot(bytes.NewReader(persist(t, st)))
		if err != nil {
			t.Fatalf("restore of a restored state's snapshot: %v", err)
		}
		statesEqual(t, st, again)
	})
}

func persist(tb testing.TB, st *cluster.State) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := (&fsmSnapshot{state: st}).write(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzApplyDelta: a view stream's change comes from another agent; no
// bytes may panic the follower, and a change it takes leaves a view that
// persists and restores unchanged.
func FuzzApplyDelta(f *testing.F) {
	h := newHarness(f)
	h.apply(fuzzSetup()...)
	view := h.state().View("a")
	// A delta of every command (bar those that change settings, which
	// make a whole view), for each node and with or without the earlier
	// state.
	for _, c := range fuzzCommands() {
		h := newHarness(f)
		h.apply(fuzzSetup()...)
		base := h.state()
		h.apply(c)
		for _, node := range []string{"a", "b"} {
			for _, prev := range []*cluster.State{base, nil} {
				d, ok := h.state().DeltaSince(base.Index(), prev, node)
				if !ok {
					continue
				}
				var buf bytes.Buffer
				if err := codec.NewEncoder(&buf, mh).Encode(d); err != nil {
					f.Fatal(err)
				}
				f.Add(buf.Bytes())
			}
		}
	}
	f.Add([]byte{0x81, 0xa4, 'p', 'o', 'd', 's', 0x91, 0xc0}) // {pods: [nil]}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d cluster.Delta
		if err := codec.NewDecoderBytes(b, mh).Decode(&d); err != nil {
			return
		}
		d.Since = view.Index()
		var next *cluster.State
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("ApplyDelta panicked: %v\n%s", r, debug.Stack())
				}
			}()
			var err error
			if next, err = view.ApplyDelta(&d, "a"); err != nil {
				next = nil
			}
		}()
		if next == nil {
			return
		}
		again, err := readSnapshot(bytes.NewReader(persist(t, next)))
		if err != nil {
			t.Fatalf("restore of a view's snapshot: %v", err)
		}
		statesEqual(t, next, again)
	})
}
