package consensus

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/cluster"
)

func testTrust() cluster.Trust {
	return cluster.Trust{CACert: "ca-pem", CAKey: "key-pem", JoinSecretHash: strings.Repeat("a", 64), GossipKeys: []string{"b2xk"}}
}

func testToken(id, name string, role cluster.Role) *cluster.Token {
	return &cluster.Token{ID: id, Name: name, Role: role, Hash: strings.Repeat("c", 64),
		CreatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
}

func TestTrustCommands(t *testing.T) {
	tests := []struct {
		name  string
		setup []Command
		cmd   Command
		err   error
		check func(*testing.T, *cluster.State)
	}{
		{name: "init", cmd: &InitTrust{Trust: testTrust()}, check: func(t *testing.T, s *cluster.State) {
			if s.Trust().CAKey != "key-pem" {
				t.Errorf("trust %+v", s.Trust())
			}
		}},
		{name: "init twice keeps the first CA", setup: []Command{&InitTrust{Trust: testTrust()}},
			cmd: &InitTrust{Trust: cluster.Trust{CACert: "other", CAKey: "k", JoinSecretHash: "h", GossipKeys: []string{"x"}}}, err: ErrConflict,
			check: func(t *testing.T, s *cluster.State) {
				if s.Trust().CACert != "ca-pem" {
					t.Error("CA replaced")
				}
			}},
		{name: "init incomplete", cmd: &InitTrust{Trust: cluster.Trust{CACert: "c"}}, err: ErrInvalid},
		{name: "join secret without CA", cmd: &SetJoinSecret{Hash: strings.Repeat("b", 64)}, err: ErrInvalid},
		{name: "join secret rotated", setup: []Command{&InitTrust{Trust: testTrust()}}, cmd: &SetJoinSecret{Hash: strings.Repeat("b", 64)},
			check: func(t *testing.T, s *cluster.State) {
				if s.Trust().JoinSecretHash != strings.Repeat("b", 64) || s.Trust().CAKey != "key-pem" {
					t.Errorf("trust %+v", s.Trust())
				}
			}},
		{name: "join secret bad hash", setup: []Command{&InitTrust{Trust: testTrust()}}, cmd: &SetJoinSecret{Hash: "short"}, err: ErrInvalid},
		{name: "gossip keys", setup: []Command{&InitTrust{Trust: testTrust()}}, cmd: &SetGossipKeys{Keys: []string{"bmV3", "b2xk"}},
			check: func(t *testing.T, s *cluster.State) {
				if k := s.Trust().GossipKeys; len(k) != 2 || k[0] != "bmV3" {
					t.Errorf("keys %v", k)
				}
			}},
		{name: "gossip keys empty", setup: []Command{&InitTrust{Trust: testTrust()}}, cmd: &SetGossipKeys{}, err: ErrInvalid},
		{name: "token", cmd: &PutToken{Token: testToken("t1", "ci", cluster.RoleView)}, check: func(t *testing.T, s *cluster.State) {
			if tok, ok := s.Token("t1"); !ok || tok.Name != "ci" || tok.CreateIndex == 0 {
				t.Errorf("token %+v", tok)
			}
		}},
		{name: "token bad role", cmd: &PutToken{Token: testToken("t1", "ci", "root")}, err: ErrInvalid},
		{name: "token name taken", setup: []Command{&PutToken{Token: testToken("t1", "ci", cluster.RoleView)}},
			cmd: &PutToken{Token: testToken("t2", "ci", cluster.RoleAdmin)}, err: ErrConflict},
		{name: "token ID taken", setup: []Command{&PutToken{Token: testToken("t1", "ci", cluster.RoleView)}},
			cmd: &PutToken{Token: testToken("t1", "other", cluster.RoleAdmin)}, err: ErrConflict},
		{name: "revoke", setup: []Command{&PutToken{Token: testToken("t1", "ci", cluster.RoleView)}}, cmd: &DeleteToken{ID: "t1"},
			check: func(t *testing.T, s *cluster.State) {
				if _, ok := s.Token("t1"); ok {
					t.Error("token still there")
				}
			}},
		{name: "revoke unknown", cmd: &DeleteToken{ID: "nope"}, err: ErrNotFound},
		{name: "pod security", cmd: &SetPodSecurity{Level: "restricted", AllowedHostPaths: []string{"/srv/shoal"}},
			check: func(t *testing.T, s *cluster.State) {
				if c := s.Config(); c.PodSecurity != "restricted" || len(c.AllowedHostPaths) != 1 {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "pod security bad level", cmd: &SetPodSecurity{Level: "open"}, err: ErrInvalid},
		{name: "pod security relative path", cmd: &SetPodSecurity{Level: "baseline", AllowedHostPaths: []string{"srv"}}, err: ErrInvalid},
		{name: "pod security root", cmd: &SetPodSecurity{Level: "baseline", AllowedHostPaths: []string{"/"}}, err: ErrInvalid},
		{name: "raft nodes marked, sorted, once", setup: []Command{&InitTrust{Trust: testTrust()}, &MarkRaftNodes{Nodes: []string{"n2"}}},
			cmd: &MarkRaftNodes{Nodes: []string{"n3", "n1", "n2", "n3"}},
			check: func(t *testing.T, s *cluster.State) {
				tr := s.Trust()
				if !slices.Equal(tr.RaftNodes, []string{"n1", "n2", "n3"}) || tr.CAKey != "key-pem" || !tr.HeldRaft("n1") || tr.HeldRaft("n4") {
					t.Errorf("trust %+v", tr)
				}
			}},
		{name: "raft nodes marked in a cluster from before the marks", cmd: &MarkRaftNodes{Nodes: []string{"n1"}},
			check: func(t *testing.T, s *cluster.State) {
				if tr := s.Trust(); tr.MarksSince != s.Index() || !tr.HeldRaft("n1") {
					t.Errorf("trust %+v at %d: want the marks to begin now", tr, s.Index())
				}
			}},
		{name: "raft node without a name", cmd: &MarkRaftNodes{Nodes: []string{"n1", ""}}, err: ErrInvalid,
			check: func(t *testing.T, s *cluster.State) {
				if s.Trust().HeldRaft("n1") {
					t.Error("a refused command marked n1")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for _, c := range tt.setup {
				h.must(c)
			}
			r := h.apply(tt.cmd)[0]
			if !errors.Is(r.Err, tt.err) || (tt.err == nil && r.Err != nil) {
				t.Fatalf("err %v, want %v", r.Err, tt.err)
			}
			if tt.check != nil {
				tt.check(t, h.state())
			}
		})
	}
}

func TestTokenExpired(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		expires time.Time
		want    bool
	}{{time.Time{}, false}, {now.Add(time.Second), false}, {now, true}, {now.Add(-time.Hour), true}} {
		if got := (&cluster.Token{ExpiresAt: tt.expires}).Expired(now); got != tt.want {
			t.Errorf("expires %v: %v, want %v", tt.expires, got, tt.want)
		}
	}
}

// TestMarkRaftNodesIsOptional: an agent from before MarkRaftNodes skips
// it rather than halting, as it skips any command so flagged.
func TestMarkRaftNodesIsOptional(t *testing.T) {
	b, err := encodeCommand(&MarkRaftNodes{Nodes: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if CommandType(b[0]) != MarkRaftNodesType|IgnoreUnknownTypeFlag {
		t.Fatalf("encoded as type %d, want %d with IgnoreUnknownTypeFlag", b[0], MarkRaftNodesType)
	}
	h := newHarness(t)
	if r := h.applyRaw(encodeBatch([][]byte{b})); r[0].Err != nil || !h.state().Trust().HeldRaft("n1") {
		t.Fatalf("applied %+v: trust %+v", r, h.state().Trust())
	}
	old := append([]byte{byte(IgnoreUnknownTypeFlag | (maxCommandType + 1))}, b[1:]...) // as an older agent sees it
	if r := h.applyRaw(encodeBatch([][]byte{old})); !r[0].Ignored || h.f.haltErr() != nil {
		t.Fatalf("an unknown optional command: %+v, halted %v", r, h.f.haltErr())
	}
}
