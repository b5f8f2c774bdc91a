package agent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/net/netutil"
	"gopkg.in/natefinch/lumberjack.v2"

	"shoal/agent/apiclient"
	"shoal/agent/apiserver"
	"shoal/agent/node"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/dns"
	"shoal/gpu"
	"shoal/internal/diskfull"
	"shoal/metrics"
)

// Run runs the agent until ctx ends, then shuts it down. Pods keep running
// across an agent restart: stopping the agent stops neither containers nor
// their shims, and the next start adopts them.
func Run(ctx context.Context, cfg Config) error {
	return run(ctx, cfg, hostMachine{})
}

// run is Run on machine m.
func run(ctx context.Context, cfg Config, m machine) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger.With("node", cfg.Name)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// The guard first: it keeps back the ballast that lets Raft store its
	// term and vote when the disk fills.
	space, err := diskfull.NewGuard(cfg.DataDir, cfg.DataDirReserve, 0)
	if err != nil {
		return fmt.Errorf("--data-dir-reserve: %w", err)
	}
	if err := space.Refresh(); err != nil {
		log.Warn("data dir", "err", err)
	}
	creds, err := loadOrCreateCredentials(ctx, cfg, log)
	if err != nil {
		return err
	}
	if creds.boot != nil {
		// The token itself is never printed: output ends up in logs.
		fmt.Fprintf(cfg.Console, "Creating a new Shoal cluster. Its join token will be in %s (root only; `shoal token join` prints it).\nJoin other agents with:\n  shoal agent --join %s --token-file FILE\n",
			filepath.Join(cfg.DataDir, joinTokenFile), advertiseAddr(cfg.APIAddr, cfg.Advertise))
	}
	// A Raft log this agent cannot apply, or a container runtime it cannot
	// bring back, stops it with that reason, whatever it is doing (see
	// consensus.Store.Halted and runtimeHealth); Run returns it, so the
	// agent exits with an error and its service manager restarts it.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	halted := func(err error) error {
		if cause := context.Cause(ctx); errors.Is(cause, consensus.ErrHalted) || errors.Is(cause, errRuntimeLost) {
			return fmt.Errorf("stopping: %w", cause)
		}
		return err
	}
	lc := &lifecycle{ctx: ctx, log: log}
	defer lc.shutdown()
	cp, err := startControl(ctx, lc, cfg, creds, space, stop, log)
	if err != nil {
		return halted(err)
	}
	dnsAddrs, err := startNode(ctx, lc, cfg, m, cp, stop, log)
	if err != nil {
		return halted(err)
	}
	log.Info("agent ready", "api", cp.apiAddr, "dns", strings.Join(dnsAddrs, ","), "pod_cidr", cp.me.PodCIDR)
	if cfg.Ready != nil {
		cfg.Ready()
	}
	<-ctx.Done()
	log.Info("agent stopping")
	return halted(nil)
}

// controlPlane is what startControl brings up and startNode builds on.
type controlPlane struct {
	creds   *credentials
	reg     *prometheus.Registry
	gpus    []cluster.GPU
	store   *consensus.Store
	members *gossipMembers
	writer  *leaderWriter
	srv     *apiserver.Server
	apiAddr string
	// follower keeps the state current outside Raft; the API sends reads
	// to the member it follows while the state is a node's view.
	follower *stateFollower
	// metrics holds this node's sampled usage (served by the API and
	// exported to Prometheus).
	metrics *metrics.Recorder
	// me is this node's record once the leader gave it a pod subnet.
	me *cluster.Node
}

// startControl joins the cluster: Raft, gossip, the leader-only units and
// the API; then it registers this node and waits for its pod subnet.
func startControl(ctx context.Context, lc *lifecycle, cfg Config, creds *credentials, space *diskfull.Guard, stop context.CancelCauseFunc, log *slog.Logger) (*controlPlane, error) {
	cp := &controlPlane{creds: creds, reg: prometheus.NewRegistry(), metrics: metrics.NewRecorder(cfg.Name, metricsWindowSize(cfg.MetricsInterval))}
	cp.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), cp.metrics)

	// What this machine offers: needed for the gossip metadata already.
	cp.gpus = gpu.Merge(gpu.Discover(ctx, log), cfg.AdvertisedGPUs)
	self := nodeRecord(cfg, cp.gpus)

	// Raft first: everything else reads the state it holds. A joining agent
	// starts without a configuration and waits for the leader to add it.
	store, err := consensus.Open(consensus.Config{
		NodeID:    cfg.Name,
		DataDir:   cfg.DataDir,
		BindAddr:  cfg.RaftAddr,
		Advertise: advertiseAddr(cfg.RaftAddr, cfg.Advertise),
		Bootstrap: len(cfg.Join) == 0,
		Logger:    log,
		Version:   Version,
		TLS:       raftTLS(creds.id),
		Space:     space,

		CommitTimeout: cfg.RaftCommitTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("open raft state: %w", err)
	}
	cp.store = store
	if cfg.Opened != nil {
		cfg.Opened(store)
	}
	lc.onStop(func() {
		if err := store.Close(); err != nil {
			log.Warn("close raft", "err", err)
		}
	})
	log.Info("raft open", "addr", cfg.RaftAddr, "index", store.State().Index())
	lc.loop(func(lctx context.Context) {
		select {
		case <-lctx.Done():
		case <-store.Halted():
			stop(store.HaltErr())
		}
	})

	if err := cp.startGossip(ctx, lc, cfg, self, space, log); err != nil {
		return nil, err
	}

	if err := waitForLeader(ctx, store, log); err != nil {
		return nil, err
	}
	if err := initCluster(ctx, store, cfg); err != nil {
		return nil, err
	}
	if err := commitBootstrap(ctx, store, cfg, creds); err != nil {
		return nil, err
	}

	// Leader-only units run while this agent leads, and only then:
	// scheduling, Raft membership and node health from gossip, and the
	// fencing leases, which start afresh with each term.
	leases := newLeaseKeeper(store, cfg.Lease, cfg.LeaseMargin)
	lead := &leadership{
		changes: store.LeaderCh(),
		elected: []func(time.Time){leases.elected},
		log:     log.With("component", "leadership"),
		units: []leaderUnit{
			{"scheduler", (&schedulerUnit{store: store, log: log.With("component", "scheduler"), fenced: leases.expired, hold: leases.hold}).run},
			{"taint-eviction", (&taintEvictionUnit{store: store, log: log.With("component", "taint-eviction")}).run},
			{"autoscaler", (&autoscalerUnit{store: store, fetch: cp.metricsFetch(cfg), every: cfg.HPASyncPeriod, log: log.With("component", "autoscaler")}).run},
			{"membership", (&membershipUnit{self: cfg.Name, store: store, gossip: cp.members.g, deadGrace: cfg.DeadGrace, replicasPerZone: cfg.RaftReplicasPerZone, downAfter: cfg.NodeDownAfter, log: log.With("component", "membership")}).run},
		},
	}
	lc.loop(lead.run)

	// The API comes up before this node registers so that clients get
	// answers (and Pending pods their reason) as early as possible.
	if err := cp.startAPI(cfg, leases, lc, log); err != nil {
		return nil, err
	}
	self.APIAddr = cp.apiAddr

	// Register this node and wait for its pod subnet.
	cp.writer = &leaderWriter{store: store, http: apiclient.NewHTTPClient(creds.id.ClientTLS(""))}
	if err := register(ctx, cp.writer, self, log); err != nil {
		return nil, err
	}
	cp.me, err = waitForPodCIDR(ctx, store, cfg.Name)
	if err != nil {
		return nil, err
	}
	cp.members.setPodCIDR(cp.me.PodCIDR)
	return cp, nil
}

// startGossip joins gossip and starts what follows it: the disk watch,
// the keyrings, the remembered peers, reconnection, and the state stream
// follower.
func (cp *controlPlane) startGossip(ctx context.Context, lc *lifecycle, cfg Config, self *cluster.Node, space *diskfull.Guard, log *slog.Logger) error {
	// Gossip: who is alive, and where. Encrypted with the cluster's
	// keyring, which follows the replicated state (rotation).
	var err error
	cp.members, err = startGossip(ctx, cfg, cp.creds, self, cp.store.State(), log)
	if err != nil {
		return err
	}
	lc.onStop(cp.members.stop)
	lc.loop((&diskWatch{guard: space, every: cfg.DiskCheckInterval, report: cp.members.setDiskPressure, log: log}).run)
	lc.loop(func(ctx context.Context) { followGossipKeys(ctx, cp.store, cp.members.g, cfg.DataDir, log) })
	lc.loop(func(ctx context.Context) { followSecretKeys(ctx, cp.store, cp.creds, cfg.Name, log) })
	lc.loop(func(ctx context.Context) { rememberPeers(ctx, cp.store, cfg.DataDir, cfg.Name, log) })
	lc.loop(func(ctx context.Context) { cp.members.reconnect(ctx, reconnectEvery(cfg.GossipProfile)) })
	// Outside the Raft configuration (or cut off from the leader) the state
	// comes from a member's stream instead.
	cp.follower = &stateFollower{
		store:      cp.store,
		http:       apiclient.NewHTTPClient(cp.creds.id.ClientTLS("")),
		self:       cfg.Name,
		seeds:      joinAPIAddrs(cfg.Join),
		others:     cp.members.apiAddrs,
		log:        log.With("component", "stream"),
		metrics:    newFollowMetrics(cp.reg, cp.store),
		wholeState: cfg.WholeState,
	}
	lc.loop(cp.follower.run)
	return nil
}

// reconnectEvery is how often gossip calls on the nodes it lost: faster
// under the test profile.
func reconnectEvery(profile string) time.Duration {
	if profile == "test" {
		return time.Second
	}
	return 5 * time.Second
}

// startAPI serves the HTTP API, with its audit log.
func (cp *controlPlane) startAPI(cfg Config, leases *leaseKeeper, lc *lifecycle, log *slog.Logger) error {
	auditLog, err := openAudit(cfg.DataDir, lc)
	if err != nil {
		return err
	}
	cp.srv = apiserver.NewServer(apiserver.Config{
		NodeName:  cfg.Name,
		Store:     cp.store,
		ClientTLS: cp.creds.id.ClientTLS(""),
		CertTTL:   cfg.CertTTL,
		Gatherer:  cp.reg,
		Logger:    log,
		NewUID:    newUID,
		Leases:    leases,
		// Claim volumes are served to the node a StatefulSet pod moves to.
		VolumesDir: filepath.Join(cfg.DataDir, "volumes"),
		Audit:      auditLog,
		Secrets:    cp.creds.secrets,
		Metrics:    cp.metrics,
		// Live node conditions come from gossip: a node whose data dir is
		// full cannot record them in the Raft state.
		NodeConditions: func() map[string][]string { return nodeConditions(cp.members.g) },
		Stream:         cp.store,
		ReadFrom:       cp.follower.following,
	})
	cp.apiAddr, err = serveAPI(cfg, cp.srv, cp.creds.id.ServerTLS(tls.VerifyClientCertIfGiven), lc, log)
	if err != nil {
		return err
	}
	lc.loop(func(ctx context.Context) {
		renewCertificate(ctx, cp.creds, cp.apiAddr, cfg.DataDir, renewCheckEvery(cfg.CertTTL), log)
	})
	return nil
}

// renewCheckEvery is how often the node certificate's age is checked: a
// minute, or more often for short-lived test certificates.
func renewCheckEvery(ttl time.Duration) time.Duration {
	if ttl > 0 && ttl/20 < time.Minute {
		return max(ttl/20, 100*time.Millisecond)
	}
	return time.Minute
}

// startNode runs pods here: the pod network, DNS, the container runtime,
// the host-gw routes, the fencing lease and the node reconciler. It
// returns the addresses DNS answers on.
func startNode(ctx context.Context, lc *lifecycle, cfg Config, m machine, cp *controlPlane, stop context.CancelCauseFunc, log *slog.Logger) ([]string, error) {
	store := cp.store
	podDNS, err := m.podNetwork(ctx, cfg, cp.me.PodCIDR)
	if err != nil {
		return nil, err
	}

	// DNS: for pods on the bridge gateway, for the host on --dns-addr.
	dnsAddrs := []string{podDNS}
	if cfg.DNSAddr != "" {
		dnsAddrs = append(dnsAddrs, cfg.DNSAddr)
	}
	dnsSrv, err := dns.New(dns.Config{
		Addrs: dnsAddrs, Upstreams: cfg.DNSUpstreams, Registry: cp.reg, Logger: log,
		Domain:     store.State().Config().Domain,
		ForwardFor: forwardFor(store.State().Config().ClusterCIDR, net.InterfaceAddrs, log),
	})
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	dnsSrv.Update(store.State())
	if err := dnsSrv.Start(ctx); err != nil {
		return nil, fmt.Errorf("start dns on %s: %w", strings.Join(dnsAddrs, ","), err)
	}
	lc.onStop(func() { _ = dnsSrv.Shutdown(context.Background()) })
	lc.loop(func(ctx context.Context) { followState(ctx, store, dnsSrv.Update) })

	podDNSHost, _, _ := net.SplitHostPort(podDNS)
	rt, daemon, err := m.startRuntime(ctx, runtimeConfig{
		Config:      cfg,
		podCIDR:     cp.me.PodCIDR,
		clusterCIDR: store.State().Config().ClusterCIDR,
		domain:      store.State().Config().Domain,
		nameserver:  podDNSHost,
		gpus:        cp.gpus,
		log:         log,
	}, lc.onStop)
	if err != nil {
		return nil, err
	}
	cp.srv.SetPods(rt)
	// The runtime's health: containerd restarted when it dies, the node
	// NotReady meanwhile, the agent stopped when it cannot be brought back.
	health := newRuntimeHealth(cfg.runtimeHealth, rt.Healthy, daemon,
		func(ready bool, _ string) { cp.members.setRuntimeReady(ready) },
		func(err error) { stop(err) }, log)
	lc.loop(health.run)
	lc.loop(func(ctx context.Context) { runRouteSync(ctx, store, cfg.Name, rt.SyncRoutes, log) })
	lc.loop(func(ctx context.Context) { runServiceSync(ctx, store, cfg.Name, rt.SyncServices, log) })
	lc.loop(cp.metricsSampler(ctx, cfg, rt, lc, log).run)

	// Fencing: this node may run StatefulSet pods only while the leader
	// confirms its lease, and its watchdog stops them if it lapses while
	// this agent cannot.
	guard, armed := m.guardLease(ctx, cfg, log)
	holder := startLeaseRenewal(ctx, lc.loop, cp.writer, store, guard, armed, cfg, log)

	rec := node.New(node.Config{
		NodeName:      cfg.Name,
		NodeAddress:   cfg.Advertise,
		Runtime:       rt,
		Source:        store,
		Reporter:      cp.writer,
		Logger:        log,
		BackoffBase:   time.Second,
		LeaseValid:    holder.valid,
		LeaseRegained: holder.regained,
		LeaseIndex:    holder.stateIndex,
		RuntimeReady:  health.isReady,
		FetchVolume:   apiclient.VolumeFetcher(store.State, apiclient.NewHTTPClient(cp.creds.id.ClientTLS(""))),
		ClaimDir:      rt.ClaimDir,
		// Zero: the reconciler's default.
		EvictionInterval: cfg.EvictionInterval,
		Secrets:          cp.creds.secrets,
	})
	sweeper := &claimSweeper{node: cfg.Name, volumesDir: filepath.Join(cfg.DataDir, "volumes"),
		store: store, forget: cp.writer.forgetClaims, log: log}
	lc.loop(sweeper.run)
	lc.loop(func(ctx context.Context) {
		if err := rec.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("node reconciler stopped", "err", err)
		}
	})
	return dnsSrv.Addrs(), nil
}

// maxAPIConns caps the API's open connections per listener, so a flood of
// idle or slow connections cannot exhaust the agent's file descriptors.
const maxAPIConns = 1024

// serveAPI serves HTTPS on the API address and, when that is not on
// loopback, on loopback too, where the local CLI looks first (it still
// needs a credential). It returns the address other agents reach it on.
func serveAPI(cfg Config, h http.Handler, tlsConf *tls.Config, lc *lifecycle, log *slog.Logger) (string, error) {
	addrs := []string{cfg.APIAddr}
	host, port, _ := net.SplitHostPort(cfg.APIAddr)
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", port))
	}
	first := ""
	for i, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if i > 0 {
				// Another agent on this host has loopback's port: the
				// bind address still serves.
				log.Warn("API not on loopback", "addr", addr, "err", err)
				continue
			}
			return "", fmt.Errorf("listen for the API on %s: %w", addr, err)
		}
		if first == "" {
			first = ln.Addr().String()
		}
		srv := &http.Server{
			Handler: h,
			// Slow clients are cut off: headers within 10 s, a body within
			// a minute (the API server sets that deadline itself, see
			// apiserver.ServeHTTP), idle keep-alive connections after 2
			// minutes. No ReadTimeout or WriteTimeout: either would cancel
			// `logs -f` and long execs, which stream as long as they run.
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			TLSConfig:         tlsConf,
			// TLS handshake errors (scanners, plain HTTP) are the client's
			// problem: debug, not the agent's error log.
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		}
		ln = netutil.LimitListener(ln, maxAPIConns)
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("api server", "addr", addr, "err", err)
			}
		}()
		lc.onStop(func() {
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = srv.Shutdown(sctx)
			<-served
		})
		log.Info("api listening", "addr", ln.Addr().String())
	}
	return first, nil
}

// initCluster writes the cluster settings once, when this agent created
// the cluster.
func initCluster(ctx context.Context, store *consensus.Store, cfg Config) error {
	if !store.IsLeader() || store.State().Config().ClusterID != "" {
		return nil
	}
	res, err := store.Apply(ctx, &consensus.SetConfig{Config: cluster.Config{
		ClusterID:   newUID(),
		ClusterCIDR: cfg.ClusterCIDR,
		ServiceCIDR: cfg.ServiceCIDR,
		Domain:      cluster.DefaultDomain,
	}})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		return fmt.Errorf("initialise cluster settings: %w", err)
	}
	return nil
}

// advertiseAddr is the Raft address others dial: the advertised IP with
// the bound port.
func advertiseAddr(bind, advertise string) string {
	_, port, err := net.SplitHostPort(bind)
	if err != nil || advertise == "" {
		return bind
	}
	return net.JoinHostPort(advertise, port)
}

func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// waitForLeader waits until this agent knows a Raft leader: at once for a
// lone agent, after the leader has added it for a joining one.
func waitForLeader(ctx context.Context, store *consensus.Store, log *slog.Logger) error {
	start := time.Now()
	next := 5 * time.Second
	for !store.IsLeader() {
		if addr, _ := store.Leader(); addr != "" {
			return nil
		}
		if time.Since(start) > next {
			log.Info("waiting for a raft leader (a joining agent waits for the leader to add it)", "waited", time.Since(start).Round(time.Second))
			next *= 2
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// followState calls fn with every new state until ctx ends.
func followState(ctx context.Context, store *consensus.Store, fn func(*cluster.State)) {
	for {
		ch := store.Changed()
		fn(store.State())
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// forwardFor lists the DNS clients whose outside queries this node
// forwards: pods (the cluster CIDR) and the host's own addresses.
func forwardFor(clusterCIDR string, hostAddrs func() ([]net.Addr, error), log *slog.Logger) []netip.Prefix {
	var out []netip.Prefix
	if p, err := netip.ParsePrefix(clusterCIDR); err == nil {
		out = append(out, p.Masked())
	}
	addrs, err := hostAddrs()
	if err != nil {
		log.Warn("list host addresses for DNS forwarding; only pods and loopback are served", "err", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			}
		}
	}
	return out
}

// openAudit opens the audit log: JSON lines in <data-dir>/audit/, root
// only, rotated at 50 MB with 5 compressed generations kept.
func openAudit(dataDir string, lc *lifecycle) (*slog.Logger, error) {
	dir := filepath.Join(dataDir, "audit")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create audit log dir: %w", err)
	}
	w := &lumberjack.Logger{
		Filename:   filepath.Join(dir, "audit.log"),
		MaxSize:    50, // megabytes
		MaxBackups: 5,
		Compress:   true,
	}
	lc.onStop(func() { _ = w.Close() })
	return slog.New(slog.NewJSONHandler(w, nil)), nil
}
