package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"shoal/agent/api"
	"shoal/agent/node"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/dns"
	"shoal/gpu"
	"shoal/runtime"
)

// Run runs the agent until ctx ends, then shuts it down. Pods keep running
// across an agent restart: stopping the agent stops neither containers nor
// their shims, and the next start adopts them.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger.With("node", cfg.Name)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	token, created, err := loadOrCreateToken(cfg.DataDir, cfg.Token)
	if err != nil {
		return err
	}
	if created && len(cfg.Join) == 0 {
		fmt.Fprintf(os.Stderr, "Created a new Shoal cluster. Join other agents with:\n  shoal agent --join %s --token %s\n(`shoal token` prints the token again)\n", advertiseAddr(cfg.RaftAddr, cfg.Advertise), token)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Every part started below pushes its stop onto this stack; they run in
	// reverse, so each part stops before what it depends on.
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	loop := func(fn func(context.Context)) {
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			fn(lctx)
		}()
		stops = append(stops, func() { cancel(); <-done })
	}

	// Raft first: everything else reads the state it holds.
	store, err := consensus.Open(consensus.Config{
		NodeID:    cfg.Name,
		DataDir:   cfg.DataDir,
		BindAddr:  cfg.RaftAddr,
		Advertise: advertiseAddr(cfg.RaftAddr, cfg.Advertise),
		Bootstrap: len(cfg.Join) == 0,
		Logger:    log,
	})
	if err != nil {
		return fmt.Errorf("open raft state: %w", err)
	}
	stops = append(stops, func() {
		if err := store.Close(); err != nil {
			log.Warn("close raft", "err", err)
		}
	})
	log.Info("raft open", "addr", cfg.RaftAddr, "index", store.State().Index())
	if err := waitForLeader(ctx, store); err != nil {
		return err
	}
	if err := initCluster(ctx, store, cfg); err != nil {
		return err
	}

	// Leader loops run only while this agent leads.
	leader := &leaderLoop{store: store, log: log.With("component", "leader")}
	loop(leader.run)

	// The API comes up before this node registers so that clients get
	// answers (and Pending pods their reason) as early as possible.
	srv := api.NewServer(api.Config{
		NodeName: cfg.Name,
		Store:    store,
		Token:    token,
		Gatherer: reg,
		Logger:   log,
		NewUID:   newUID,
	})
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listen for the API on %s: %w", cfg.APIAddr, err)
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api server", "err", err)
		}
	}()
	stops = append(stops, func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = httpSrv.Shutdown(sctx)
		<-served
	})
	log.Info("api listening", "addr", ln.Addr().String())

	// Register this node and wait for its pod subnet.
	gpus := gpu.Merge(gpu.Discover(ctx, log), cfg.AdvertisedGPUs)
	self := nodeRecord(cfg, ln.Addr().String(), gpus)
	if err := register(ctx, store, self, log); err != nil {
		return err
	}
	me, err := waitForPodCIDR(ctx, store, cfg.Name)
	if err != nil {
		return err
	}
	gateway, err := ensureBridge(ctx, cfg.BridgeName, me.PodCIDR)
	if err != nil {
		return err
	}

	// DNS: for the host on --dns-addr, for pods on the bridge gateway.
	dnsAddrs := []string{net.JoinHostPort(gateway, "53")}
	if cfg.DNSAddr != "" {
		dnsAddrs = append(dnsAddrs, cfg.DNSAddr)
	}
	dnsSrv, err := dns.New(dns.Config{Addrs: dnsAddrs, Upstreams: cfg.DNSUpstreams, Registry: reg, Logger: log, Domain: store.State().Config().Domain})
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	dnsSrv.Update(store.State())
	if err := dnsSrv.Start(ctx); err != nil {
		return fmt.Errorf("start dns on %s: %w", strings.Join(dnsAddrs, ","), err)
	}
	stops = append(stops, func() { _ = dnsSrv.Shutdown(context.Background()) })
	loop(func(ctx context.Context) { followState(ctx, store, dnsSrv.Update) })

	// containerd: a running one, or our own child (as k3s does). Stopping
	// it leaves the shims, and so the pods, running.
	address := cfg.Containerd
	if address == "" {
		cd, err := runtime.StartContainerd(ctx, filepath.Join(cfg.DataDir, "containerd"), log)
		if err != nil {
			return fmt.Errorf("start containerd: %w", err)
		}
		stops = append(stops, func() {
			if err := cd.Stop(); err != nil {
				log.Warn("stop containerd", "err", err)
			}
		})
		address = cd.Address()
	}
	rt, err := runtime.New(ctx, runtime.Config{
		Address:            address,
		Namespace:          cfg.ContainerdNamespace,
		DataDir:            cfg.DataDir,
		CNI:                runtime.CNIConfig{BridgeName: cfg.BridgeName, PodCIDR: me.PodCIDR},
		DNS:                runtime.DNSConfig{Nameserver: gateway},
		InsecureRegistries: cfg.InsecureRegistries,
		GPUSpec: func(ids []string) oci.SpecOpts {
			return gpu.SpecOpts(ids, gpu.InjectConfig{GPUs: gpus})
		},
		Logger: log,
	})
	if err != nil {
		return fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	stops = append(stops, func() { _ = rt.Close() })
	srv.SetPods(rt)

	rec := node.New(node.Config{
		NodeName:    cfg.Name,
		NodeAddress: cfg.Advertise,
		Runtime:     rt,
		Source:      store,
		Reporter:    &statusReporter{store: store},
		Logger:      log,
		BackoffBase: time.Second,
	})
	loop(func(ctx context.Context) {
		if err := rec.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("node reconciler stopped", "err", err)
		}
	})
	log.Info("agent ready", "api", ln.Addr().String(), "dns", strings.Join(dnsSrv.Addrs(), ","), "pod_cidr", me.PodCIDR)
	<-ctx.Done()
	log.Info("agent stopping")
	return nil
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
		Domain:      "cluster.local",
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

// loadOrCreateToken keeps the cluster token in the data dir so that a
// restarted agent uses the same one.
func loadOrCreateToken(dataDir, given string) (token string, created bool, err error) {
	path := filepath.Join(dataDir, "token")
	if b, err := os.ReadFile(path); err == nil {
		have := strings.TrimSpace(string(b))
		if given != "" && given != have {
			return "", false, fmt.Errorf("--token does not match the token this agent's data dir %s was created with", dataDir)
		}
		return have, false, nil
	}
	token = given
	if token == "" {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", false, err
		}
		token = "shoal-" + hex.EncodeToString(b[:])
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("store the cluster token: %w", err)
	}
	return token, true, nil
}

func waitForLeader(ctx context.Context, store *consensus.Store) error {
	for !store.IsLeader() {
		if addr, _ := store.Leader(); addr != "" {
			return nil
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
