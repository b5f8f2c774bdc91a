package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	kresource "k8s.io/apimachinery/pkg/api/resource"

	"shoal/agent"
	"shoal/cluster"
	"shoal/internal/exepages"
	"shoal/manifest"
)

func newAgentCmd(g *globals) *cobra.Command {
	var cfg agent.Config
	var join, upstreams, registries []string
	var labels, capacity, logLevel, reserve string
	var keepExePages bool
	var replicasPerZone int
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the Shoal agent on this server",
		Long: `Run the Shoal agent: it holds the cluster state (Raft), runs this node's
pods through containerd, answers service names over DNS and serves the API.
The first agent (no --join) creates the cluster: its CA, and a join token
in <data-dir>/join-token, readable by root only. Others join with --join
(a member's API address) and the join token from --token-file or the
SHOAL_TOKEN environment variable (a token given with --token shows in the
process list). Every agent writes <data-dir>/admin.conf, the credentials
its host's root uses with the CLI.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{offline: "1"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: expected debug, info, warn or error", logLevel)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg.Join = join
			cfg.DNSUpstreams = upstreams
			cfg.InsecureRegistries = registries
			var err error
			if cfg.Token, err = g.agentToken(); err != nil {
				return fmt.Errorf("--token-file: %w", err)
			}
			if cfg.Labels, err = agent.ParseLabels(labels); err != nil {
				return fmt.Errorf("--labels: %w", err)
			}
			if err := setCapacity(&cfg, capacity); err != nil {
				return err
			}
			if cfg.RaftReplicasPerZone, err = raftReplicas(replicasPerZone); err != nil {
				return err
			}
			if cfg.DataDirReserve, err = parseBytes(reserve); err != nil {
				return fmt.Errorf("--data-dir-reserve: %w", err)
			}
			if cfg.Name == "" {
				h, _ := os.Hostname()
				cfg.Name = strings.ToLower(h)
			}
			if !keepExePages {
				cfg.Ready = releaseExePages(cmd.Context(), cfg.Logger)
			}
			// The fencing watchdog is this binary, run again.
			if cfg.FenceWatchdog, err = os.Executable(); err != nil {
				return fmt.Errorf("find the shoal binary for the fencing watchdog: %w", err)
			}
			agent.Version = version
			return agent.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "", "node name (default: the host name)")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/shoal", "where the agent keeps its state, pod data and volumes")
	f.StringVar(&reserve, "data-dir-reserve", "64Mi", "free space below which the data dir counts as full: writes are refused and the node shows DiskPressure")
	f.DurationVar(&cfg.DiskCheckInterval, "disk-check-interval", 5*time.Second, "how often the data dir's free space is looked at for DiskPressure")
	_ = f.MarkHidden("disk-check-interval")
	f.StringVar(&cfg.Bind, "bind", "127.0.0.1", "IP to listen on for Raft, gossip and the API")
	f.StringVar(&cfg.Advertise, "advertise", "", "IP other nodes reach this one on (default: --bind)")
	f.StringSliceVar(&join, "join", nil, "API addresses of cluster members to join through, HOST[:PORT],... (port 7948 by default)")
	f.DurationVar(&cfg.CertTTL, "cert-ttl", 0, "lifetime of the node certificates this agent signs (default a year; renewed after two thirds)")
	_ = f.MarkHidden("cert-ttl")
	f.DurationVar(&cfg.EvictionInterval, "eviction-interval", 10*time.Second, "how often pods' local storage is measured against their ephemeral-storage limits")
	_ = f.MarkHidden("eviction-interval")
	f.DurationVar(&cfg.MetricsInterval, "metrics-interval", 10*time.Second, "how often containers' and the node's CPU and memory are sampled for `shoal top` and /metrics (1s to 30s; the last minute is kept)")
	f.DurationVar(&cfg.HPASyncPeriod, "hpa-sync-period", 15*time.Second, "how often the leader reconciles every HorizontalPodAutoscaler (1s to 10m; Kubernetes' default 15s)")
	f.StringVar(&labels, "labels", "", "node labels, k=v,...")
	f.StringVar(&cfg.Containerd, "containerd", "", "socket of a running containerd (default: start one under the data dir)")
	f.StringVar(&cfg.ContainerdNamespace, "containerd-namespace", cluster.DefaultContainerdNamespace, "containerd namespace for this agent's containers")
	f.StringVar(&capacity, "capacity", "", "override detected capacity, e.g. cpu=4,memory=8Gi,ephemeral-storage=100Gi,nvidia.com/gpu=2 (GPUs NVML cannot see are identified by index)")
	f.StringVar(&cfg.APIAddr, "api-addr", "", "HOST:PORT of the API (default: --bind:7948)")
	f.StringVar(&cfg.DNSAddr, "dns-addr", "", "HOST:PORT where the DNS server answers the host (pods always get it on their bridge)")
	f.StringSliceVar(&upstreams, "dns-upstream", nil, "resolvers for non-cluster names, HOST:PORT,... (default: /etc/resolv.conf)")
	f.StringSliceVar(&registries, "insecure-registry", nil, "registries reached over plain HTTP, HOST:PORT,... (loopback ones always are)")
	f.StringVar(&cfg.RaftAddr, "raft-addr", "", "HOST:PORT for Raft (default: --bind:7947)")
	f.StringVar(&cfg.GossipAddr, "gossip-addr", "", "HOST:PORT for gossip, TCP and UDP (default: --bind:7946)")
	f.StringVar(&cfg.GossipProfile, "gossip-profile", "lan", "failure detection timings: lan, or test (fast, for tests and demos)")
	f.DurationVar(&cfg.NodeDownAfter, "node-down-after", time.Second, "how long a node gossip found dead stays NotReady before it is Down and its Deployment pods start elsewhere")
	f.BoolVar(&cfg.WholeState, "whole-state", false, "outside Raft, ask for the whole cluster state rather than this node's view")
	_ = f.MarkDeprecated("whole-state", "members serve the whole state (every Secret) only to agents that hold or held Raft, which follow it anyway; others follow their node's view")
	f.DurationVar(&cfg.DeadGrace, "dead-grace", 30*time.Second, "how long a dead node keeps its Raft vote before another agent gets it (and how long a node no member hears of waits before Down)")
	f.IntVar(&replicasPerZone, "raft-replicas-per-zone", 2, "non-voting Raft replicas the leader keeps per zone beside the voters, 8 at most in all (0: voters only); the other agents follow the state stream")
	f.DurationVar(&cfg.Lease, "lease", 10*time.Second, "StatefulSet fencing lease: a node that cannot renew it for this long stops its StatefulSet pods")
	f.DurationVar(&cfg.RaftCommitTimeout, "raft-commit-timeout", agent.DefaultRaftCommitTimeout, "how long Raft members wait, after the last write, to learn it is committed (each member gets a message every 1-2x this while idle: higher is less idle CPU, slower changes)")
	f.StringVar(&cfg.BridgeName, "bridge", cluster.DefaultBridgeName, "name of the pod bridge")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cluster.DefaultClusterCIDR, "pod network of the cluster, one /24 per node")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cluster.DefaultServiceCIDR, "virtual IPs of the cluster's Services (the first agent's is the cluster's; must not overlap --cluster-cidr)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&keepExePages, "keep-exe-pages", false, "keep the kernel's defaults for the shoal binary's pages: read ahead, and resident once start-up touched them (see README, Agent memory)")
	return cmd
}

// exePagesPeriod is how often the agent gives back its binary's pages
// after start-up. Pages another process maps, and those of a binary just
// built and not yet written to disk, stay resident when the agent gives
// them back; a CLI run of the same binary brings back the kernel's large
// folios, which the agent then maps whole. Giving them back again now and
// then keeps the agent at what it runs, at the cost of re-reading that (a
// few MiB) from disk each period.
const exePagesPeriod = 30 * time.Second

// releaseExePages has the kernel read the binary page by page from now on
// and returns the hook that gives back, once the agent is up and every
// exePagesPeriod after, the pages of it not in use (see package
// exepages): about 20 MiB of the agent's RSS. A kernel without the calls
// leaves the agent as it was.
func releaseExePages(ctx context.Context, log *slog.Logger) func() {
	if err := exepages.ReadByPage(); err != nil {
		log.Warn("binary pages stay resident", "err", err)
		return nil
	}
	return func() {
		if err := exepages.Release(); err != nil {
			log.Warn("binary pages stay resident", "err", err)
			return
		}
		go func() {
			t := time.NewTicker(exePagesPeriod)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := exepages.Release(); err != nil {
						log.Warn("binary pages stay resident", "err", err)
						return
					}
				}
			}
		}()
	}
}

// raftReplicas turns --raft-replicas-per-zone into the agent's
// RaftReplicasPerZone, whose zero means the default: 0 on the command line
// means none.
func raftReplicas(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("--raft-replicas-per-zone %d: expected 0 or more", n)
	case n == 0:
		return agent.NoRaftReplicas, nil
	}
	return n, nil
}

// parseBytes reads a size such as 64Mi or 1G.
func parseBytes(s string) (uint64, error) {
	q, err := kresource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("%q: expected a size such as 64Mi or 1Gi", s)
	}
	n, ok := q.AsInt64()
	if !ok || n <= 0 {
		return 0, fmt.Errorf("%q: expected a positive whole number of bytes, such as 64Mi", s)
	}
	return uint64(n), nil
}

// setCapacity applies --capacity: the resources it overrides, and the GPUs
// it advertises (-1: those NVML finds).
func setCapacity(cfg *agent.Config, capacity string) error {
	cfg.AdvertisedGPUs = -1
	if capacity == "" {
		return nil
	}
	var err error
	if cfg.Capacity, err = manifest.ParseResourceList(capacity); err != nil {
		return fmt.Errorf("--capacity: %w", err)
	}
	if slices.Contains(resourceNames(capacity), cluster.ResourceGPU) {
		cfg.AdvertisedGPUs = int(cfg.Capacity.GPU)
	}
	return nil
}
