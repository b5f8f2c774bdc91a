package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/consensus/consensustest"
	"shoal/internal/poll"
	"shoal/pki"
	"shoal/seal"
)

// testCluster is an API server over HTTPS with the cluster's real trust:
// a CA in the state, node certificates, and user tokens of every role.
type testCluster struct {
	store  *consensus.Store
	ca     *pki.CA
	server *Server
	addr   string
	// tokens by role name, and "node:<name>" clients by node.
	tokens map[string]string
	// secrets is the keyring of the first server.
	secrets SecretKeys
}

func newTestCluster(t *testing.T, cfg Config) *testCluster {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = consensustest.Cluster(t, 1, func(_ int, c *consensus.Config) { c.NodeID = "n1" })[0]
	}
	ca, err := pki.NewCA("test-cluster", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{store: cfg.Store.(*consensus.Store), ca: ca, tokens: map[string]string{}}
	skey, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Secrets == nil {
		cfg.Secrets = seal.InMemory(skey)
	}
	tc.secrets = cfg.Secrets
	cmds := []consensus.Command{&consensus.InitTrust{Trust: cluster.Trust{
		CACert: string(ca.CertPEM), CAKey: string(caKey), JoinSecretHash: pki.HashSecret("0123456789abcdef0123456789abcdef"), GossipKeys: []string{"a2V5"},
		SecretKeyID: skey.ID,
	}}}
	for _, role := range []cluster.Role{cluster.RoleAdmin, cluster.RoleEdit, cluster.RoleView} {
		tok, id, hash, err := NewUserToken()
		if err != nil {
			t.Fatal(err)
		}
		tc.tokens[string(role)] = tok
		cmds = append(cmds, &consensus.PutToken{Token: tokenRecord(id, hash, string(role)+"-user", role, 0, "test", time.Now())})
	}
	tc.apply(t, cmds...)

	tc.server, tc.addr = tc.serve(t, cfg)
	return tc
}

// serve starts one more agent's API over the same state and CA.
func (tc *testCluster) serve(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = tc.store
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewUID == nil {
		var n atomic.Int64
		cfg.NewUID = func() string { return fmt.Sprintf("uid-%d", n.Add(1)) }
	}
	if cfg.NodeName == "" {
		cfg.NodeName = "n1"
	}
	self := tc.identity(t, cfg.NodeName)
	cfg.ClientTLS = self.ClientTLS("")
	srv := NewServer(cfg)
	// Not httptest's StartTLS: it adds its own certificate, which a client
	// dialling an IP (no SNI) would be shown instead of the node's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, TLSConfig: self.ServerTLS(tls.VerifyClientCertIfGiven),
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = hs.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = hs.Close() })
	return srv, ln.Addr().String()
}

func (tc *testCluster) apply(t *testing.T, cmds ...consensus.Command) {
	t.Helper()
	res, err := tc.store.Apply(context.Background(), cmds...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// identity issues a node certificate of the cluster CA.
func (tc *testCluster) identity(t *testing.T, node string) *pki.Identity {
	t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tc.ca.SignNode(key.Public(), pki.NodeRequest{Name: node, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := pki.NewIdentity(cert, keyPEM, tc.ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// user is a client with the token of a role ("admin", "edit", "view"), or
// with token itself when it is not a role name.
func (tc *testCluster) user(t *testing.T, role string) *apiclient.Client {
	t.Helper()
	tok, ok := tc.tokens[role]
	if !ok {
		tok = role
	}
	conf, err := apiclient.CATLS(tc.ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return apiclient.NewClient(tc.addr, tok, conf)
}

// node is a client with a node certificate and no token.
func (tc *testCluster) node(t *testing.T, name string) *apiclient.Client {
	t.Helper()
	return apiclient.NewClient(tc.addr, "", tc.identity(t, name).ClientTLS(""))
}

// forwardingPair starts a Raft cluster of two with the leader's API served
// by tc (leaderCfg: its settings beyond the store and node name) and the
// follower's by another server, and returns an admin client of the
// follower's API: what it writes is forwarded to the leader's API at
// leaderAPI, as the leader's node record names it (tc's own address when
// ""), once the follower holds that record.
func forwardingPair(t *testing.T, leaderCfg Config, leaderAPI string) (tc *testCluster, leader *consensus.Store, leaderID string, c *apiclient.Client) {
	t.Helper()
	stores := consensustest.Cluster(t, 2, func(i int, c *consensus.Config) { c.NodeID = fmt.Sprintf("n%d", i+1) })
	leader, follower := stores[0], stores[1]
	if !leader.IsLeader() {
		leader, follower = follower, leader
	}
	leaderCfg.Store, leaderCfg.NodeName = leader, "n1"
	tc = newTestCluster(t, leaderCfg)
	if leaderAPI == "" {
		leaderAPI = tc.addr
	}
	_, leaderID = leader.Leader()
	tc.apply(t, &consensus.PutNode{Node: &cluster.Node{Name: leaderID, APIAddr: leaderAPI, Status: cluster.NodeReady}})
	poll.Until(t, 10*time.Second, "the follower to hold the leader's node", func() (bool, string) {
		_, ok := follower.State().Node(leaderID)
		return ok, ""
	})
	_, faddr := tc.serve(t, Config{Store: follower, NodeName: "n2"})
	c = tc.user(t, "admin")
	c.Addr = faddr
	return tc, leader, leaderID, c
}
