// Package agent wires Shoal's parts into one running agent: Raft state,
// the leader's scheduling loop, the node reconciler over containerd, the
// DNS server and the HTTP API.
package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"shoal/autopilot"
	"shoal/cluster"
	"shoal/consensus"
)

// DefaultRaftCommitTimeout is hashicorp/raft's own CommitTimeout.
const DefaultRaftCommitTimeout = 50 * time.Millisecond

// Config is the agent's one user-facing configuration, filled from flags.
type Config struct {
	Name    string
	DataDir string
	// Bind is the IP the agent listens on (Raft, gossip, API); Advertise
	// the IP other nodes use to reach it (default: Bind, or, when Bind is
	// 0.0.0.0 or ::, the host's first global unicast address, IPv4 first).
	Bind      string
	Advertise string
	// Join lists members' API addresses (HOST or HOST:PORT) to join
	// through; Token is the join token (SHOAL1-<CA digest>-<secret>).
	Join  []string
	Token string
	// CertTTL is how long node certificates this agent signs last
	// (default a year); they are renewed after two thirds of it.
	CertTTL time.Duration
	Labels  map[string]string
	// Containerd is the socket of a running containerd; empty starts a
	// supervised one under the data dir.
	Containerd          string
	ContainerdNamespace string
	// Capacity overrides what the agent detects (cpu, memory); zero
	// fields mean "detect".
	Capacity cluster.Resources
	// AdvertisedGPUs is --capacity nvidia.com/gpu=N: -1 when not given
	// (use what NVML finds); otherwise at most N of the discovered GPUs, or
	// N GPUs known by index when NVML finds none (see gpu.Merge).
	AdvertisedGPUs int
	// APIAddr, DNSAddr: HOST:PORT to listen on.
	APIAddr            string
	DNSAddr            string
	DNSUpstreams       []string
	InsecureRegistries []string
	// RaftAddr is HOST:PORT for Raft (default Bind:7947); GossipAddr for
	// memberlist, TCP and UDP (default Bind:7946).
	RaftAddr   string
	GossipAddr string
	// GossipProfile is "lan" (memberlist's LAN timings) or "test" (fast
	// failure detection for tests and demos).
	GossipProfile string
	// NodeDownAfter is how long a node gossip declares dead stays
	// NotReady before it is Down: its Deployment pods start elsewhere
	// (StatefulSet pods still wait for its fencing lease). DeadGrace is
	// how long before its Raft vote is given to another agent, and how
	// long a node no member has heard of at all waits before Down.
	NodeDownAfter time.Duration
	DeadGrace     time.Duration
	// WholeState makes an agent outside Raft follow the whole state
	// rather than its node's view (its own pods whole, other nodes' pods
	// as the summaries DNS and Service routes read).
	WholeState bool
	// RaftReplicasPerZone is how many non-voting Raft replicas the leader
	// keeps per zone beside the voters (at most 8 in all): they are
	// promoted when a voter is lost. Every other agent stays out of Raft
	// and follows the state stream from a member. Zero means the default,
	// 2; NoRaftReplicas means none, voters only.
	RaftReplicasPerZone int
	// Lease is the StatefulSet fencing lease; LeaseMargin what the leader
	// waits beyond it before placing a fenced node's pods elsewhere.
	Lease, LeaseMargin time.Duration
	// FenceWatchdog is the shoal binary, run as `shoal fence-watchdog` to
	// keep the fencing promise when this agent cannot (package
	// fencewatch); empty: no watchdog, the agent alone fences.
	FenceWatchdog string
	// RaftCommitTimeout is how long the leader's replication to each
	// member waits, without new entries, before telling it the commit
	// index anyway (Raft's CommitTimeout; each wait is 1–2× it). A
	// member applies the last entry of a burst only then, so it is the
	// latency a change takes to reach members after a quiet spell; and
	// it is an AppendEntries per member every 1–2× it while idle, the
	// largest part of an idle leader's work.
	RaftCommitTimeout time.Duration
	// BridgeName is the pod bridge (default shoal0); agents sharing a host
	// in tests use one each.
	BridgeName  string
	ClusterCIDR string
	// ServiceCIDR is where Services' virtual IPs come from (default
	// 10.43.0.0/16); like ClusterCIDR, the first agent's is the cluster's.
	ServiceCIDR string
	// EvictionInterval is how often the node measures its pods' local
	// storage and evicts those over their limits (default 10s, the
	// kubelet's); tests shorten it.
	EvictionInterval time.Duration
	// MetricsInterval is how often containers' and the node's CPU and
	// memory are sampled (default 10s); the last minute of samples is
	// kept in memory.
	MetricsInterval time.Duration
	// HPASyncPeriod is how often the leader reconciles every
	// HorizontalPodAutoscaler (default 15s, Kubernetes'
	// --horizontal-pod-autoscaler-sync-period).
	HPASyncPeriod time.Duration
	// DataDirReserve is the free space (bytes) below which the data dir
	// counts as full: writes are refused with a clear error and the node
	// shows DiskPressure (default 64 MiB). DiskCheckInterval is how often
	// the condition is looked at for reporting (default 5s; writes check
	// it each time).
	DataDirReserve    uint64
	DiskCheckInterval time.Duration
	Logger            *slog.Logger
	// Console is where the agent writes what its operator must read
	// beside the log: how to join the cluster it creates (os.Stderr
	// when nil).
	Console io.Writer
	// Ready, when set, is called once, when the agent serves (API, DNS
	// and node reconciler up): the end of its start-up.
	Ready func()
	// Opened, when set, is handed the agent's state store once it is
	// open: an observer in the same process (the simulation,
	// sim/agentsim) reads the state's index and Raft leadership from it.
	Opened func(*consensus.Store)

	// runtimeHealth are the container runtime monitor's timings (zero:
	// the defaults); the package's tests shorten them.
	runtimeHealth healthLimits
}

// NoRaftReplicas, as Config.RaftReplicasPerZone, keeps Raft to the voters
// (`--raft-replicas-per-zone 0`).
const NoRaftReplicas = autopilot.NoReplicas

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("--name: required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir: required"))
	}
	if c.Bind == "" {
		c.Bind = "127.0.0.1"
	}
	if net.ParseIP(c.Bind) == nil {
		errs = append(errs, fmt.Errorf("--bind %q: not an IP address", c.Bind))
	}
	if c.Advertise == "" {
		c.Advertise = c.Bind
		if ip := net.ParseIP(c.Bind); ip != nil && ip.IsUnspecified() {
			addr, err := hostAddress(net.InterfaceAddrs)
			if err != nil {
				errs = append(errs, fmt.Errorf("--advertise: required with --bind %s: %w", c.Bind, err))
			}
			c.Advertise = addr
		}
	}
	if c.APIAddr == "" {
		c.APIAddr = net.JoinHostPort(c.Bind, strconv.Itoa(cluster.DefaultAPIPort))
	}
	if c.RaftAddr == "" {
		c.RaftAddr = net.JoinHostPort(c.Bind, strconv.Itoa(cluster.DefaultRaftPort))
	}
	if c.GossipAddr == "" {
		c.GossipAddr = net.JoinHostPort(c.Bind, strconv.Itoa(cluster.DefaultGossipPort))
	}
	if c.GossipProfile == "" {
		c.GossipProfile = "lan"
	}
	if c.GossipProfile != "lan" && c.GossipProfile != "test" {
		errs = append(errs, fmt.Errorf("--gossip-profile %q: expected lan or test", c.GossipProfile))
	}
	if c.DiskCheckInterval <= 0 {
		c.DiskCheckInterval = 5 * time.Second
	}
	if c.DeadGrace <= 0 {
		c.DeadGrace = 30 * time.Second
	}
	if c.NodeDownAfter <= 0 {
		c.NodeDownAfter = min(time.Second, c.DeadGrace)
	}
	if c.Lease <= 0 {
		c.Lease = 10 * time.Second
	}
	if c.LeaseMargin <= 0 {
		c.LeaseMargin = c.Lease / 2
	}
	if c.RaftCommitTimeout == 0 {
		c.RaftCommitTimeout = DefaultRaftCommitTimeout
	}
	if c.RaftCommitTimeout < time.Millisecond || c.RaftCommitTimeout > time.Second {
		errs = append(errs, fmt.Errorf("--raft-commit-timeout %v: expected 1ms to 1s", c.RaftCommitTimeout))
	}
	for flag, v := range map[string]string{"--api-addr": c.APIAddr, "--raft-addr": c.RaftAddr, "--gossip-addr": c.GossipAddr, "--dns-addr": c.DNSAddr} {
		if v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: expected HOST:PORT", flag, v))
		}
	}
	if c.ContainerdNamespace == "" {
		c.ContainerdNamespace = cluster.DefaultContainerdNamespace
	}
	if c.BridgeName == "" {
		c.BridgeName = cluster.DefaultBridgeName
	}
	if err := c.validateCIDRs(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.periods()...)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Console == nil {
		c.Console = os.Stderr
	}
	return errors.Join(errs...)
}

// GossipAdvertise is the gossip address other agents join through.
func (c *Config) GossipAdvertise() string {
	return advertiseAddr(c.GossipAddr, c.Advertise)
}

// ParseLabels reads "k=v,k2=v2".
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: expected key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// hostAddress picks the address other nodes reach an agent bound to all
// interfaces at: the first global unicast IPv4 address, else IPv6 one.
func hostAddress(addrs func() ([]net.Addr, error)) (string, error) {
	as, err := addrs()
	if err != nil {
		return "", fmt.Errorf("list this host's addresses: %w", err)
	}
	var v6 string
	for _, a := range as {
		n, ok := a.(*net.IPNet)
		if !ok || !n.IP.IsGlobalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP.String(), nil
		}
		if v6 == "" {
			v6 = n.IP.String()
		}
	}
	if v6 != "" {
		return v6, nil
	}
	return "", errors.New("this host has no global unicast address to advertise")
}

// validateCIDRs fills in and checks the pod and service networks: the
// service CIDR must not overlap the pods'.
func (c *Config) validateCIDRs() error {
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = cluster.DefaultClusterCIDR
	}
	if _, _, err := net.ParseCIDR(c.ClusterCIDR); err != nil {
		return fmt.Errorf("--cluster-cidr %q: %v", c.ClusterCIDR, err)
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = cluster.DefaultServiceCIDR
	}
	if err := cluster.CheckServiceCIDR(c.ServiceCIDR, c.ClusterCIDR); err != nil {
		return fmt.Errorf("--service-cidr: %w", err)
	}
	return nil
}

// periods defaults and checks the metrics sampling interval and the
// autoscaler's sync period.
func (c *Config) periods() []error {
	var errs []error
	switch {
	case c.MetricsInterval == 0:
		c.MetricsInterval = 10 * time.Second
	case c.MetricsInterval < time.Second || c.MetricsInterval > metricsSpan/2:
		errs = append(errs, fmt.Errorf("--metrics-interval %s: expected 1s to 30s (a minute of samples is kept, at least two)", c.MetricsInterval))
	}
	switch {
	case c.HPASyncPeriod == 0:
		c.HPASyncPeriod = 15 * time.Second
	case c.HPASyncPeriod < time.Second || c.HPASyncPeriod > 10*time.Minute:
		errs = append(errs, fmt.Errorf("--hpa-sync-period %s: expected 1s to 10m", c.HPASyncPeriod))
	}
	return errs
}
