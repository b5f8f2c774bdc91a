package consensus

import (
	"context"
	"log/slog"
	"testing"

	"shoal/cluster"
	"shoal/internal/poll"
)

// TestStreamEntryLeavesOutCAKey: the stream serves InitTrust, alone or
// in a batch, without the CA key and with everything else; other entries
// pass as they are.
func TestStreamEntryLeavesOutCAKey(t *testing.T) {
	trust := mustEncode(t, &InitTrust{Trust: testTrust()})[0]
	node := mustEncode(t, &PutNode{Node: testNode("a", 1000, 1<<30)})[0]
	tests := []struct {
		name string
		data []byte
		same bool // served as the very same bytes
	}{
		{name: "InitTrust", data: trust},
		{name: "batch holding InitTrust", data: encodeBatch([][]byte{node, trust, node})},
		{name: "batch without", data: encodeBatch([][]byte{node, node}), same: true},
		{name: "other command", data: node, same: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := streamEntry(Entry{Index: 7, Data: tc.data})
			if got.Index != 7 {
				t.Fatalf("index %d", got.Index)
			}
			if tc.same != (&got.Data[0] == &tc.data[0]) {
				t.Fatalf("served the same bytes: %v, want %v", !tc.same, tc.same)
			}
			f := newFSM(slog.New(slog.DiscardHandler))
			if res := f.apply(7, got.Data, true); resultErr(res) != nil {
				t.Fatalf("the served entry does not apply on a follower: %v", resultErr(res))
			}
			if tr := f.state.Load().Trust(); caKeyIn(got.Data, testTrust().CACert) != "" || tr.CAKey != "" {
				t.Fatalf("the served entry carries the CA key: %+v", tr)
			}
			want := testTrust()
			want.CAKey = ""
			if tr := f.state.Load().Trust(); !tc.same && (tr.CACert != want.CACert || tr.JoinSecretHash != want.JoinSecretHash || len(tr.GossipKeys) != 1) {
				t.Fatalf("follower's trust %+v, want %+v", tr, want)
			}
		})
	}
}

func resultErr(res any) error {
	switch r := res.(type) {
	case Result:
		return r.Err
	case []Result:
		for _, x := range r {
			if x.Err != nil {
				return x.Err
			}
		}
	}
	return nil
}

// TestFSMTakesCAKeyFromRaft: a state built from the stream (no CA key)
// takes the key from what raft replays to it once it is a member, entries
// and snapshots it otherwise skips; a key held is never dropped by a
// snapshot without it; a key for another CA certificate is not taken.
func TestFSMTakesCAKeyFromRaft(t *testing.T) {
	full := testTrust()
	redacted := full
	redacted.CAKey = ""
	other := full
	other.CACert = "another-ca"
	trustEntry := func(tr cluster.Trust) []byte { return mustEncode(t, &InitTrust{Trust: tr})[0] }
	node := mustEncode(t, &PutNode{Node: testNode("a", 1000, 1<<30)})[0]
	snapshot := func(index uint64, tr cluster.Trust) *cluster.State {
		return cluster.Empty().Txn(index).Commit().WithTrust(tr)
	}
	tests := []struct {
		name string
		// streamed: the follower's state, from the stream at index 5
		raft    func(f *fsm)
		wantKey string
	}{
		{name: "raft replays InitTrust", raft: func(f *fsm) { f.apply(2, trustEntry(full), false) }, wantKey: full.CAKey},
		{name: "raft replays InitTrust in a batch", raft: func(f *fsm) { f.apply(2, encodeBatch([][]byte{node, trustEntry(full)}), false) }, wantKey: full.CAKey},
		{name: "raft installs an older snapshot", raft: func(f *fsm) { f.restore(snapshot(3, full)) }, wantKey: full.CAKey},
		{name: "raft installs a newer snapshot", raft: func(f *fsm) { f.restore(snapshot(9, full)) }, wantKey: full.CAKey},
		{name: "the stream replays it", raft: func(f *fsm) { f.apply(2, trustEntry(full), true) }, wantKey: ""},
		{name: "another CA's key", raft: func(f *fsm) { f.apply(2, trustEntry(other), false) }, wantKey: ""},
		{name: "an older snapshot of another CA", raft: func(f *fsm) { f.restore(snapshot(3, other)) }, wantKey: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFSM(slog.New(slog.DiscardHandler))
			f.restore(snapshot(5, redacted))
			tc.raft(f)
			if got := f.state.Load().Trust().CAKey; got != tc.wantKey {
				t.Fatalf("CA key %q, want %q", got, tc.wantKey)
			}
			if got := f.state.Load().Trust().CACert; got == "" {
				t.Fatal("lost the CA certificate")
			}
		})
	}

	t.Run("a held key survives a snapshot from the stream", func(t *testing.T) {
		f := newFSM(slog.New(slog.DiscardHandler))
		f.restore(snapshot(5, full))
		f.restore(snapshot(9, redacted))
		if got := f.state.Load(); got.Index() != 9 || got.Trust().CAKey != full.CAKey {
			t.Fatalf("state at %d with key %q, want 9 and the key", got.Index(), got.Trust().CAKey)
		}
	})
	t.Run("raft never commits a trust without a key", func(t *testing.T) {
		f := newFSM(slog.New(slog.DiscardHandler))
		if err := resultErr(f.apply(1, trustEntry(redacted), false)); err == nil {
			t.Fatal("InitTrust without a CA key applied from raft")
		}
	})
}

// TestStreamFollowerHoldsNoCAKeyUntilPromoted: through the stream, as a
// snapshot or as entries, a follower gets the cluster's trust without the
// CA key; added to Raft, it takes the key from what raft replays.
func TestStreamFollowerHoldsNoCAKeyUntilPromoted(t *testing.T) {
	for _, feed := range []int{0, 4} {
		name := map[int]string{0: "entries", 4: "snapshot"}[feed]
		t.Run(name, func(t *testing.T) {
			c := newTestCluster(t, 3, func(cfg *Config) { cfg.FeedEntries = feed })
			l := c.leader(t)
			mustApply(t, l, &InitTrust{Trust: testTrust()})
			for i := range 8 {
				mustApply(t, l, &PutNode{Node: testNode(string(rune('a'+i)), 1000, 1<<30)})
			}
			if _, _, ok, _ := l.fsm.since(0); ok != (feed == 0) {
				t.Fatalf("feed reaches back to 0: %v; the test would not take the %s path", ok, name)
			}
			client := newClient(t, c, "outside")
			s := connect(t, l, client)
			poll.Until(t, waitTimeout, "the follower at the leader's index", poll.Bool(func() bool {
				return client.State().Index() >= l.State().Index()
			}))
			tr := client.State().Trust()
			if tr.CAKey != "" || tr.CACert != testTrust().CACert || tr.JoinSecretHash != testTrust().JoinSecretHash {
				t.Fatalf("follower's trust %+v: want the CA certificate and join secret hash, no CA key", tr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := l.AddNonvoter(ctx, "outside", client.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, waitTimeout, "the promoted follower holding the CA key", poll.Bool(func() bool {
				return client.State().Trust().CAKey == testTrust().CAKey
			}))
			s.stop()
		})
	}
}
