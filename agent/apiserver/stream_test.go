package apiserver

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
)

// TestStreamViewOfItsOwnNode: a node may follow its own node's view of
// the state, not another node's; the whole state only while it is a Raft
// member or is marked as one that was (cluster.State.MayHaveHeldRaft has
// the cases of a cluster from before the marks).
func TestStreamViewOfItsOwnNode(t *testing.T) {
	tc := newTestCluster(t, Config{})
	_, addr := tc.serve(t, Config{Stream: tc.store})
	tests := []struct {
		caller, view string
		// mark, if set, is marked as holding Raft before the request
		// (marks add up from row to row).
		mark string
		want int
	}{
		{caller: "n2", view: "n2", want: http.StatusOK},
		{caller: "n2", view: "n3", want: http.StatusForbidden},
		{caller: "n2", want: http.StatusOK}, // nothing marked yet (the fixture's trust is from before the marks)
		{caller: "n2", mark: "n3", want: http.StatusForbidden},
		{caller: "n2", view: "n2", want: http.StatusOK},
		{caller: "n3", want: http.StatusOK},
		{caller: "n1", want: http.StatusOK}, // unmarked, but a member
	}
	for _, tt := range tests {
		t.Run(tt.caller+" view "+tt.view, func(t *testing.T) {
			if tt.mark != "" {
				tc.apply(t, &consensus.MarkRaftNodes{Nodes: []string{tt.mark}})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			u := "https://" + addr + api.PathPrefix + "/internal/stream?index=0"
			if tt.view != "" {
				u += "&view=" + tt.view
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tc.node(t, tt.caller).HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// viewStore is a store that holds a node's view, as an agent outside
// Raft does: its State is view, the rest the store's.
type viewStore struct {
	*consensus.Store
	view *cluster.State
}

func (v viewStore) State() *cluster.State { return v.view }
func (v viewStore) HoldsView() bool       { return true }

// TestViewReadsGoToTheMemberFollowed: an agent that holds its node's view
// answers a read with the whole state through the member it follows, or
// through the leader when that member does not answer (it just died),
// and from its view only when asked for ?local=1.
func TestViewReadsGoToTheMemberFollowed(t *testing.T) {
	tc := newTestCluster(t, Config{})
	tc.apply(t, &consensus.PutPods{Pods: []*cluster.Pod{{Namespace: "default", Name: "web", UID: "u1", Ordinal: -1,
		Spec: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "nginx"}}}}}})
	_, member := tc.serve(t, Config{NodeName: "n1"}) // n1 leads tc.store
	down, down2 := closedAddr(t), closedAddr(t)
	tests := []struct {
		name              string
		follows, leaderAt string // the member followed; the leader's API address
		local             bool
		wantImage         string
		wantErr           []string
	}{
		{"through the member followed", member, down, false, "nginx", nil},
		{"its own view", down, down, true, "", nil},
		{"the member followed down: through the leader", down, member, false, "nginx", nil},
		{"nobody answers", down, down2, false, "", []string{"no agent answered", down, down2}},
		{"nobody followed or leading", down, "", false, "", []string{"no agent answered", down}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc.apply(t, &consensus.PutNode{Node: &cluster.Node{Name: "n1", APIAddr: tt.leaderAt, Status: cluster.NodeReady}})
			_, addr := tc.serve(t, Config{NodeName: "n2", Store: viewStore{tc.store, tc.store.State().View("n2")},
				ReadFrom: func() string { return tt.follows }})
			c := tc.user(t, "view")
			c.Addr, c.Local = addr, tt.local
			l, err := c.Pods(context.Background(), "default")
			if tt.wantErr != nil {
				for _, want := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Fatalf("err %v, want one naming %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != 1 || l.Items[0].Spec.Containers[0].Image != tt.wantImage {
				t.Fatalf("pods %+v, want web with image %q", l.Items, tt.wantImage)
			}
		})
	}
}

// closedAddr is a loopback address nothing listens on (any more).
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
