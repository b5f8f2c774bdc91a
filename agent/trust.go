package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/agent/apiserver"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/gossip"
	"shoal/internal/atomicfile"
	"shoal/pki"
	"shoal/seal"
)

// What an agent keeps of its identity, in its data dir (all root only):
//
//	tls/ca.crt, tls/node.crt, tls/node.key   its node certificate and the CA
//	gossip.keys                              the gossip keyring, to rejoin after a restart
//	admin.conf                               the host root's admin credential for the CLI
//	join-token                               the join token (the first agent)
//	tls/bootstrap.json                       a new cluster's CA key and secrets until they are committed
const (
	tlsDir        = "tls"
	caFile        = "ca.crt"
	certFile      = "node.crt"
	keyFile       = "node.key"
	gossipKeyFile = "gossip.keys"
	adminConfFile = "admin.conf"
	joinTokenFile = "join-token"
	bootstrapFile = "bootstrap.json"
)

// credentials are an agent's identity and what it needs to start.
type credentials struct {
	id         *pki.Identity
	gossipKeys [][]byte
	// secrets seals and opens Secrets (seal.FileName in the data dir).
	secrets *seal.Keyring
	// seeds are gossip addresses to join through (from the join answer).
	seeds []string
	// boot is set on the agent that creates the cluster until its trust
	// is committed.
	boot *bootstrap
}

// bootstrap is what the first agent commits once it leads: the CA key and
// the hashes of the secrets it handed out.
type bootstrap struct {
	Trust     cluster.Trust `json:"trust"`
	JoinToken string        `json:"joinToken"`
	Admin     cluster.Token `json:"admin"`
	AdminTok  string        `json:"adminToken"`
}

// loadOrCreateCredentials finds this agent's identity in its data dir, or
// makes one: a new CA when it creates the cluster, or a certificate from
// the cluster when it joins.
func loadOrCreateCredentials(ctx context.Context, cfg Config, log *slog.Logger) (*credentials, error) {
	dir := filepath.Join(cfg.DataDir, tlsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, certFile)); err == nil {
		if cfg.Token != "" {
			log.Info("this agent already has a node certificate; the join token is not used")
		}
		return loadCredentials(cfg.DataDir)
	}
	if len(cfg.Join) == 0 {
		if cfg.Token != "" {
			return nil, errors.New("--token is for --join: a new cluster makes its own join token")
		}
		return createCluster(cfg)
	}
	return joinCluster(ctx, cfg, log)
}

func loadCredentials(dataDir string) (*credentials, error) {
	dir := filepath.Join(dataDir, tlsDir)
	read := func(name string) []byte {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return b
	}
	id, err := pki.NewIdentity(read(certFile), read(keyFile), read(caFile))
	if err != nil && read(certFile+".new") != nil {
		// A renewal was cut short after the new key was in place.
		if id, err = pki.NewIdentity(read(certFile+".new"), read(keyFile), read(caFile)); err == nil {
			err = os.Rename(filepath.Join(dir, certFile+".new"), filepath.Join(dir, certFile))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("load this node's certificate from %s: %w", dir, err)
	}
	c := &credentials{id: id}
	if c.secrets, err = seal.Load(dataDir); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dataDir, gossipKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load the gossip keyring: %w", err)
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("load the gossip keyring %s: %w", gossipKeyFile, err)
	}
	if c.gossipKeys, err = gossip.DecodeKeys(keys); err != nil {
		return nil, fmt.Errorf("load the gossip keyring: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, bootstrapFile)); err == nil {
		c.boot = &bootstrap{}
		if err := json.Unmarshal(b, c.boot); err != nil {
			return nil, fmt.Errorf("read %s: %w", bootstrapFile, err)
		}
	}
	return c, nil
}

// nodeRequest is what this node's certificate names: its addresses, and
// loopback so that the local CLI can verify the API on 127.0.0.1.
func nodeRequest(cfg Config) pki.NodeRequest {
	req := pki.NodeRequest{Name: cfg.Name, DNSNames: []string{"localhost"}}
	for _, a := range []string{cfg.Advertise, cfg.Bind, "127.0.0.1", "::1"} {
		ip := net.ParseIP(a)
		if ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(req.IPs, ip.Equal) {
			req.IPs = append(req.IPs, ip)
		}
	}
	if host, _, err := net.SplitHostPort(cfg.APIAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(req.IPs, ip.Equal) {
			req.IPs = append(req.IPs, ip)
		}
	}
	return req
}

// createCluster makes the cluster's CA, this node's certificate, the
// gossip key, the join secret and the root admin token. They are committed
// to the state once this agent leads (commitBootstrap); until then they
// wait in tls/bootstrap.json, so a crash in between loses nothing.
func createCluster(cfg Config) (*credentials, error) {
	now := time.Now()
	ca, err := pki.NewCA(newUID(), now)
	if err != nil {
		return nil, err
	}
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	cert, err := ca.SignNode(key.Public(), withTTL(nodeRequest(cfg), cfg.CertTTL), now)
	if err != nil {
		return nil, err
	}
	gkey, err := gossip.NewKey()
	if err != nil {
		return nil, err
	}
	join, err := pki.NewJoinToken(ca.Digest())
	if err != nil {
		return nil, err
	}
	adminTok, id, hash, err := apiserver.NewUserToken()
	if err != nil {
		return nil, err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	skey, err := storeSecretKeys(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	boot := &bootstrap{
		Trust: cluster.Trust{CACert: string(ca.CertPEM), CAKey: string(caKey), JoinSecretHash: pki.HashSecret(join.Secret),
			GossipKeys: gossip.EncodeKeys([][]byte{gkey}), SecretKeyID: skey.ID},
		JoinToken: join.String(),
		Admin:     cluster.Token{ID: id, Name: "root@" + cfg.Name, Role: cluster.RoleAdmin, Hash: hash, CreatedAt: now.UTC(), CreatedBy: "init"},
		AdminTok:  adminTok,
	}
	b, err := json.Marshal(boot)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, tlsDir)
	if err := writeSecret(filepath.Join(dir, bootstrapFile), b); err != nil {
		return nil, err
	}
	if err := storeIdentity(cfg.DataDir, ca.CertPEM, cert, keyPEM, boot.Trust.GossipKeys); err != nil {
		return nil, err
	}
	c, err := loadCredentials(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func withTTL(r pki.NodeRequest, ttl time.Duration) pki.NodeRequest {
	r.TTL = ttl
	return r
}

// storeIdentity writes the CA, the node certificate and key, and the
// gossip keyring; the certificate last, as it marks a complete identity.
func storeIdentity(dataDir string, caPEM, certPEM, keyPEM []byte, gossipKeys []string) error {
	dir := filepath.Join(dataDir, tlsDir)
	if err := writeSecret(filepath.Join(dir, caFile), caPEM); err != nil {
		return err
	}
	if err := writeGossipKeys(dataDir, gossipKeys); err != nil {
		return err
	}
	if err := writeSecret(filepath.Join(dir, keyFile), keyPEM); err != nil {
		return err
	}
	return writeSecret(filepath.Join(dir, certFile), certPEM)
}

func writeGossipKeys(dataDir string, keys []string) error {
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	return writeSecret(filepath.Join(dataDir, gossipKeyFile), b)
}

// writeSecret replaces a root-only file in one step.
func writeSecret(path string, b []byte) error { return atomicfile.Write(path, b, 0o600) }

// joinCluster gets this node's certificate from a member: it checks the
// member's certificate against the CA digest in the join token before the
// secret leaves this machine, so a forged seed learns nothing.
// storeSecretKeys writes the keyring that seals Secrets: the keys a join
// answer carried, or a first key for a new cluster (returned).
func storeSecretKeys(dataDir string, keys ...seal.Key) (seal.Key, error) {
	if len(keys) == 0 {
		k, err := seal.NewKey()
		if err != nil {
			return seal.Key{}, err
		}
		keys = []seal.Key{k}
	}
	r, err := seal.Load(dataDir)
	if err == nil {
		err = r.Add(keys...)
	}
	if err != nil {
		return seal.Key{}, fmt.Errorf("store the secret keys: %w", err)
	}
	return keys[0], nil
}

func joinCluster(ctx context.Context, cfg Config, log *slog.Logger) (*credentials, error) {
	if cfg.Token == "" {
		return nil, errors.New("--join needs the join token: pass --token-file (or SHOAL_TOKEN); `shoal token join` on a member prints it")
	}
	tok, err := pki.ParseJoinToken(cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("--token: %w", err)
	}
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	pub, err := pki.EncodePublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	nreq := nodeRequest(cfg)
	req := api.JoinRequest{Secret: tok.Secret, Name: cfg.Name, DNSNames: nreq.DNSNames, PublicKey: string(pub)}
	for _, ip := range nreq.IPs {
		req.IPs = append(req.IPs, ip.String())
	}
	res, err := askToJoin(ctx, cfg.Join, tok.CADigest, req, log)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	if _, err := pki.NewIdentity([]byte(res.Certificate), keyPEM, []byte(res.CA)); err != nil {
		return nil, fmt.Errorf("join: the certificate the cluster issued: %w", err)
	}
	if err := storeIdentity(cfg.DataDir, []byte(res.CA), []byte(res.Certificate), keyPEM, res.GossipKeys); err != nil {
		return nil, err
	}
	if _, err := storeSecretKeys(cfg.DataDir, res.SecretKeys...); err != nil {
		return nil, err
	}
	if err := writeAdminConf(cfg, []byte(res.CA), res.AdminToken); err != nil {
		return nil, err
	}
	c, err := loadCredentials(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	c.seeds = res.Members
	return c, nil
}

// askToJoin tries the seeds until one admits this agent. A seed whose CA
// does not match the token stops the join at once: retrying would not
// change the token.
func askToJoin(ctx context.Context, seeds []string, digest string, req api.JoinRequest, log *slog.Logger) (*api.JoinResponse, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var errs []error
		for _, seed := range seeds {
			addr := withDefaultAPIPort(seed)
			pin := pki.NewPinned(digest)
			c := apiclient.NewClient(addr, "", pin.TLS())
			jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			res, err := c.Join(jctx, req)
			cancel()
			if err == nil {
				log.Info("joined the cluster", "through", addr)
				return res, nil
			}
			if pkiMismatch(err) {
				return nil, fmt.Errorf("join through %s: %w", addr, err)
			}
			var se *apiclient.StatusError
			if errors.As(err, &se) && se.Code == 403 {
				return nil, fmt.Errorf("join through %s: %w", addr, err)
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("join the cluster through %v (the API address of a member, port %d by default): %w", seeds, cluster.DefaultAPIPort, errors.Join(errs...))
		}
		log.Warn("join: retrying", "err", errors.Join(errs...))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func pkiMismatch(err error) bool {
	var m *pki.MismatchError
	return errors.As(err, &m)
}

// withDefaultAPIPort adds the default API port to a seed given as a bare
// host.
func withDefaultAPIPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, strconv.Itoa(cluster.DefaultAPIPort))
}

// commitBootstrap commits a new cluster's trust and root token once this
// agent leads, then writes the join token and admin credential for root.
func commitBootstrap(ctx context.Context, store *consensus.Store, cfg Config, c *credentials) error {
	if c.boot == nil {
		return nil
	}
	b := c.boot
	if store.State().Trust().CACert == "" {
		admin := b.Admin
		tr := b.Trust
		// A new cluster marks its Raft members from the start: a node
		// record (made after this entry) is never older than the marks.
		tr.MarksSince = 1
		res, err := store.Apply(ctx, &consensus.InitTrust{Trust: tr}, &consensus.PutToken{Token: &admin})
		if err == nil {
			err = errors.Join(res[0].Err, res[1].Err)
		}
		if err != nil {
			return fmt.Errorf("commit the cluster's CA and tokens: %w", err)
		}
	}
	if err := writeSecret(filepath.Join(cfg.DataDir, joinTokenFile), []byte(b.JoinToken+"\n")); err != nil {
		return err
	}
	if err := writeAdminConf(cfg, []byte(b.Trust.CACert), b.AdminTok); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(cfg.DataDir, tlsDir, bootstrapFile)); err != nil {
		return fmt.Errorf("remove %s: %w", bootstrapFile, err)
	}
	c.boot = nil
	return nil
}

// writeAdminConf writes the host root's credential for the CLI.
func writeAdminConf(cfg Config, caPEM []byte, token string) error {
	host, port, _ := net.SplitHostPort(cfg.APIAddr)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	creds := apiclient.Credentials{Server: net.JoinHostPort(host, port), CA: string(caPEM), Token: token}
	return creds.Write(filepath.Join(cfg.DataDir, adminConfFile))
}

// raftTLS is the Raft transport's mutual TLS: only node certificates of
// this cluster speak Raft.
func raftTLS(id *pki.Identity) *consensus.RaftTLS {
	srv := id.ServerTLS(tls.RequireAndVerifyClientCert)
	srv.VerifyConnection = pki.RequireNodeCert
	return &consensus.RaftTLS{
		Server: srv,
		Client: func(addr string) *tls.Config {
			host, _, _ := net.SplitHostPort(addr)
			c := id.ClientTLS(host)
			c.VerifyConnection = pki.RequireNodeCert
			return c
		},
	}
}

// followGossipKeys makes gossip use the keyring in the replicated state
// whenever it changes (a rotation), and keeps it on disk for a restart.
func followGossipKeys(ctx context.Context, store *consensus.Store, g *gossip.Gossip, dataDir string, log *slog.Logger) {
	var last []string
	followState(ctx, store, func(st *cluster.State) {
		keys := st.Trust().GossipKeys
		if len(keys) == 0 || slices.Equal(keys, last) {
			return
		}
		ring, err := gossip.DecodeKeys(keys)
		if err == nil {
			err = g.SetKeys(ring)
		}
		if err == nil {
			err = writeGossipKeys(dataDir, keys)
		}
		if err != nil {
			log.Error("follow the gossip keyring", "err", err)
			return
		}
		if last != nil {
			log.Info("gossip keyring changed", "keys", len(keys))
		}
		last = keys
	})
}

// followSecretKeys fetches the key Secrets are sealed with when the state
// names one this agent lacks: it was down during a rotation, or joined
// before this version kept keys. Any agent holding it answers.
func followSecretKeys(ctx context.Context, store *consensus.Store, c *credentials, self string, log *slog.Logger) {
	hc := apiclient.NewHTTPClient(c.id.ClientTLS(""))
	followState(ctx, store, func(st *cluster.State) {
		id := st.Trust().SecretKeyID
		for id != "" && !c.secrets.Has(id) && ctx.Err() == nil {
			if err := fetchSecretKeys(ctx, st, hc, self, c.secrets); err != nil {
				log.Warn("fetch the secret key: retrying", "key", id, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Second):
				}
				continue
			}
			log.Info("secret key received", "key", id)
		}
	})
}

func fetchSecretKeys(ctx context.Context, st *cluster.State, hc *http.Client, self string, ring *seal.Keyring) error {
	id := st.Trust().SecretKeyID
	var errs []error
	for _, n := range st.Nodes() {
		if n.Name == self || n.APIAddr == "" {
			continue
		}
		keys, err := (&apiclient.Client{Addr: n.APIAddr, HTTP: hc}).SecretKeys(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
			continue
		}
		if slices.ContainsFunc(keys, func(k seal.Key) bool { return k.ID == id }) {
			return ring.Add(keys...)
		}
	}
	return fmt.Errorf("no agent answered with key %s: %w", id, errors.Join(errs...))
}

// renewCertificate renews this node's certificate, without a restart,
// once two thirds of its life have passed: a new key, signed by the
// cluster through this agent's API, swapped into every listener and
// client at once.
func renewCertificate(ctx context.Context, c *credentials, apiAddr, dataDir string, every time.Duration, log *slog.Logger) {
	hc := apiclient.NewHTTPClient(c.id.ClientTLS(""))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if !pki.NeedsRenewal(c.id.Leaf(), time.Now()) {
			continue
		}
		if err := renewOnce(ctx, c, &apiclient.Client{Addr: apiAddr, HTTP: hc}, dataDir); err != nil {
			log.Warn("renew this node's certificate: retrying", "err", err)
			continue
		}
		log.Info("node certificate renewed", "until", c.id.Leaf().NotAfter)
	}
}

func renewOnce(ctx context.Context, c *credentials, api *apiclient.Client, dataDir string) error {
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	pub, err := pki.EncodePublicKey(key.Public())
	if err != nil {
		return err
	}
	cert, err := api.RenewCertificate(ctx, pub)
	if err != nil {
		return err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return err
	}
	if err := c.id.Update([]byte(cert), keyPEM); err != nil {
		return err
	}
	dir := filepath.Join(dataDir, tlsDir)
	if err := writeSecret(filepath.Join(dir, keyFile+".new"), keyPEM); err != nil {
		return err
	}
	// A crash between the two renames leaves the new key beside the old
	// certificate; loadCredentials then finds the new certificate waiting
	// as node.crt.new and finishes the swap.
	if err := writeSecret(filepath.Join(dir, certFile+".new"), []byte(cert)); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, keyFile+".new"), filepath.Join(dir, keyFile)); err != nil {
		return err
	}
	return os.Rename(filepath.Join(dir, certFile+".new"), filepath.Join(dir, certFile))
}
