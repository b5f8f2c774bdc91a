package apiserver

import (
	"context"
	"strings"
	"testing"

	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/pki"
)

// streamedStore is the state as an agent outside Raft holds it: the
// state stream leaves the CA key out, and the leader is another agent.
type streamedStore struct {
	*consensus.Store
	leader string
}

func (s streamedStore) State() *cluster.State {
	st := s.Store.State()
	tr := st.Trust()
	tr.CAKey = ""
	return st.WithTrust(tr)
}

func (s streamedStore) IsLeader() bool            { return false }
func (s streamedStore) Leader() (addr, id string) { return "", s.leader }

// TestRenewOnAgentWithoutCAKey: an agent outside Raft holds no CA key; it
// sends its own node's renewal on to the leader, which signs it for that
// node, and refuses another node's (it would lend that node its identity).
func TestRenewOnAgentWithoutCAKey(t *testing.T) {
	tc := newTestCluster(t, Config{})
	tc.apply(t, &consensus.PutNode{Node: &cluster.Node{Name: "n1", Status: cluster.NodeReady, APIAddr: tc.addr}})
	_, clientAddr := tc.serve(t, Config{NodeName: "n2", Store: streamedStore{Store: tc.store, leader: "n1"}})
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pki.EncodePublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		caller  string
		wantErr string
	}{
		{caller: "n2"},
		{caller: "n3", wantErr: "holds no CA key"},
	} {
		t.Run(tt.caller, func(t *testing.T) {
			c := apiclient.NewClient(clientAddr, "", tc.identity(t, tt.caller).ClientTLS(""))
			certPEM, err := c.RenewCertificate(context.Background(), pub)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("renewal of %s through n2: %v, want %q", tt.caller, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("renewal of %s through n2: %v", tt.caller, err)
			}
			cert, err := pki.ParseCert([]byte(certPEM))
			if err != nil {
				t.Fatal(err)
			}
			if name, ok := pki.NodeName(cert); !ok || name != tt.caller {
				t.Fatalf("certificate for node %q (%v), want %q", name, ok, tt.caller)
			}
		})
	}
}
