package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/pki"
)

// TestAuthorization checks every kind of caller against every kind of
// route: roles for users, NodeRestriction for node certificates, nothing
// for anyone else.
func TestAuthorization(t *testing.T) {
	tc := newTestCluster(t, Config{})
	ctx := context.Background()
	node := func(name string) *cluster.Node {
		return &cluster.Node{Name: name, Status: cluster.NodeReady, Capacity: cluster.Resources{MilliCPU: 1000, Memory: 1 << 30}}
	}
	tc.apply(t, &consensus.PutNode{Node: node("n1")}, &consensus.PutNode{Node: node("n2")})
	apply := func(c *apiclient.Client) error {
		_, err := c.Apply(ctx, []api.File{{Name: "d.yaml", Data: deployment}})
		return err
	}
	reads := func(c *apiclient.Client) error { _, err := c.Pods(ctx, ""); return err }
	exec := func(c *apiclient.Client) error {
		_, err := c.Exec(ctx, "default", "nope", api.ExecRequest{Command: []string{"true"}}, io.Discard, io.Discard)
		return err
	}
	tokens := func(c *apiclient.Client) error { _, err := c.Tokens(ctx); return err }
	register := func(name string) func(c *apiclient.Client) error {
		return func(c *apiclient.Client) error { return c.RegisterNode(ctx, node(name)) }
	}
	status := func(name string) func(c *apiclient.Client) error {
		return func(c *apiclient.Client) error { return c.ReportStatus(ctx, &consensus.PodStatus{Node: name}) }
	}
	lease := func(c *apiclient.Client) error { _, err := c.RenewLease(ctx, "n2"); return err }
	volume := func(c *apiclient.Client) error { return c.FetchVolume(ctx, "default", "data-db-0", t.TempDir()+"/v") }

	for _, tt := range []struct {
		caller string
		client *apiclient.Client
		call   string
		fn     func(*apiclient.Client) error
		code   int // 0: allowed (any answer but 401 and 403)
	}{
		{"anonymous", tc.user(t, ""), "read", reads, 401},
		{"anonymous", tc.user(t, ""), "health", func(c *apiclient.Client) error {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return c.WaitReady(wctx)
		}, 0},
		{"wrong token", tc.user(t, "shoal-0123456789abcdef.0123456789abcdef0123456789abcdef"), "read", reads, 401},
		{"malformed token", tc.user(t, "password"), "read", reads, 401},
		{"view", tc.user(t, "view"), "read", reads, 0},
		{"view", tc.user(t, "view"), "apply", apply, 403},
		{"view", tc.user(t, "view"), "exec", exec, 403},
		{"view", tc.user(t, "view"), "tokens", tokens, 403},
		{"view", tc.user(t, "view"), "register a node", register("n1"), 403},
		{"edit", tc.user(t, "edit"), "apply", apply, 0},
		{"edit", tc.user(t, "edit"), "exec", exec, 0},
		{"edit", tc.user(t, "edit"), "tokens", tokens, 403},
		{"edit", tc.user(t, "edit"), "volume", volume, 403},
		{"admin", tc.user(t, "admin"), "tokens", tokens, 0},
		{"admin", tc.user(t, "admin"), "volume", volume, 403},
		{"node n1", tc.node(t, "n1"), "read", reads, 0},
		{"node n1", tc.node(t, "n1"), "its own record", register("n1"), 0},
		{"node n1", tc.node(t, "n1"), "another node's record", register("n2"), 403},
		{"node n1", tc.node(t, "n1"), "its own status", status("n1"), 0},
		{"node n1", tc.node(t, "n1"), "another node's status", status("n2"), 403},
		{"node n1", tc.node(t, "n1"), "another node's lease", lease, 403},
		{"node n1", tc.node(t, "n1"), "apply", apply, 403},
		{"node n1", tc.node(t, "n1"), "exec", exec, 403},
		{"node n1", tc.node(t, "n1"), "tokens", tokens, 403},
		{"node n1", tc.node(t, "n1"), "volume", volume, 0},
	} {
		t.Run(tt.caller+"/"+tt.call, func(t *testing.T) {
			err := tt.fn(tt.client)
			code := 0
			var se *apiclient.StatusError
			if asStatus(err, &se) && (se.Code == 401 || se.Code == 403) {
				code = se.Code
			}
			if code != tt.code {
				t.Errorf("%s %s: %v (code %d), want code %d", tt.caller, tt.call, err, code, tt.code)
			}
		})
	}
}

func asStatus(err error, se **apiclient.StatusError) bool { return errors.As(err, se) }

// TestTokenLifecycle: a created token works at once, stops when revoked,
// and an expiring one stops by itself; only hashes are stored.
func TestTokenLifecycle(t *testing.T) {
	tc := newTestCluster(t, Config{})
	ctx := context.Background()
	admin := tc.user(t, "admin")
	res, err := admin.CreateToken(ctx, api.TokenRequest{Name: "ci", Role: "view"})
	if err != nil {
		t.Fatal(err)
	}
	if res.CA != string(tc.ca.CertPEM) || res.Info.Role != cluster.RoleView {
		t.Errorf("token answer %+v", res.Info)
	}
	ci := tc.user(t, res.Token)
	if _, err := ci.Pods(ctx, ""); err != nil {
		t.Fatalf("new token: %v", err)
	}
	for _, stored := range tc.store.State().Tokens() {
		if strings.Contains(res.Token, stored.Hash) || strings.HasSuffix(res.Token, stored.ID+"."+stored.Hash) {
			t.Fatal("the token's secret is stored")
		}
	}
	if _, err := admin.CreateToken(ctx, api.TokenRequest{Name: "ci", Role: "view"}); err == nil {
		t.Error("a second token named ci was created")
	}
	if _, err := admin.CreateToken(ctx, api.TokenRequest{Role: "root"}); err == nil || !strings.Contains(err.Error(), "admin, edit or view") {
		t.Errorf("bad role: %v", err)
	}
	if err := admin.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.Pods(ctx, ""); err == nil {
		t.Fatal("a revoked token still works")
	}
	short, err := admin.CreateToken(ctx, api.TokenRequest{Role: "edit", TTL: "300ms"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(short.Info.Name, "edit-") || short.Info.ExpiresAt.IsZero() {
		t.Errorf("default name / expiry: %+v", short.Info)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := tc.user(t, short.Token).Pods(ctx, ""); err == nil {
		t.Fatal("an expired token still works")
	}
	list, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range list {
		names = append(names, ti.Name)
	}
	if strings.Join(names, ",") != "admin-user,"+short.Info.Name+",edit-user,view-user" {
		t.Errorf("tokens %v", names)
	}
}

// TestForeignCertificateRefused: a client certificate from another CA
// fails the TLS handshake, and a certificate of the cluster CA that is
// not a node certificate earns nothing.
func TestForeignCertificateRefused(t *testing.T) {
	tc := newTestCluster(t, Config{})
	other := newTestCluster(t, Config{})
	conf := tc.user(t, "").HTTP.Transport.(*http.Transport).TLSClientConfig.Clone()
	foreign := other.identity(t, "n1")
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return foreign.ServerTLS(tls.NoClientCert).GetCertificate(nil)
	}
	c := apiclient.NewClient(tc.addr, "", conf)
	if _, err := c.Pods(context.Background(), ""); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
}

// TestJoin: the right secret gets a node certificate that chains to the
// CA, the gossip keyring and a root admin token; a wrong secret nothing.
func TestJoin(t *testing.T) {
	tc := newTestCluster(t, Config{})
	ctx := context.Background()
	key, _ := pki.NewKey()
	pub, _ := pki.EncodePublicKey(key.Public())
	pin := pki.NewPinned(tc.ca.Digest())
	c := apiclient.NewClient(tc.addr, "", pin.TLS())
	req := api.JoinRequest{Secret: "0123456789abcdef0123456789abcdef", Name: "n9", IPs: []string{"10.0.0.9"}, PublicKey: string(pub)}

	bad := req
	bad.Secret = "ffffffffffffffffffffffffffffffff"
	if _, err := c.Join(ctx, bad); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("wrong secret: %v", err)
	}
	res, err := c.Join(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.EncodeKey(key)
	id, err := pki.NewIdentity([]byte(res.Certificate), keyPEM, []byte(res.CA))
	if err != nil || id.NodeName() != "n9" {
		t.Fatalf("joined identity %v: %v", id, err)
	}
	if len(res.GossipKeys) != 1 || res.AdminToken == "" {
		t.Errorf("join answer %+v", res)
	}
	if _, err := tc.user(t, res.AdminToken).Tokens(ctx); err != nil {
		t.Errorf("root token: %v", err)
	}
	// Joining again (a wiped data dir) replaces the root token.
	if _, err := c.Join(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.user(t, res.AdminToken).Tokens(ctx); err == nil {
		t.Error("the old root token of a rejoined node still works")
	}
	// Against another cluster's CA, the pin fails before the secret goes.
	other := newTestCluster(t, Config{})
	_, err = apiclient.NewClient(other.addr, "", pki.NewPinned(tc.ca.Digest()).TLS()).Join(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "join token pins") {
		t.Fatalf("join against another CA: %v", err)
	}
}

// TestForgedLeaderGetsNothing: a server that claims to be an agent (say,
// a forged leader record points at it) but has no certificate of the
// cluster CA never sees a request: the agent's client refuses it at the
// handshake, and an agent's requests carry no secret anyway.
func TestForgedLeaderGetsNothing(t *testing.T) {
	tc := newTestCluster(t, Config{})
	var got atomic.Int32
	fake := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	t.Cleanup(fake.Close)
	node := &apiclient.Client{Addr: strings.TrimPrefix(fake.URL, "https://"), HTTP: apiclient.NewHTTPClient(tc.identity(t, "n1").ClientTLS(""))}
	err := node.ReportStatus(context.Background(), &consensus.PodStatus{Node: "n1"})
	if err == nil || got.Load() != 0 {
		t.Fatalf("a node reported to a forged leader: err %v, %d requests seen", err, got.Load())
	}
}
