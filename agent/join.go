package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"shoal/cluster"
	"shoal/gossip"
)

// gossipMembers is this agent's gossip membership.
type gossipMembers struct {
	g   *gossip.Gossip
	log *slog.Logger

	mu   sync.Mutex // serialises meta changes
	meta gossip.NodeMeta
}

// startGossip joins the gossip pool: through the members the join answer
// named (failing with a clear error when none accepts), else through the
// nodes this agent already knew (a restart), else alone (a new cluster).
func startGossip(ctx context.Context, cfg Config, creds *credentials, self *cluster.Node, st *cluster.State, log *slog.Logger) (*gossipMembers, error) {
	host, portStr, _ := net.SplitHostPort(cfg.GossipAddr)
	port, _ := strconv.Atoi(portStr)
	meta := gossip.MetaFromNode(self)
	g, err := gossip.New(gossip.Config{
		NodeName:      cfg.Name,
		BindAddr:      host,
		BindPort:      port,
		AdvertiseAddr: cfg.Advertise,
		AdvertisePort: port,
		Keys:          creds.gossipKeys,
		Meta:          meta,
		Profile:       cfg.GossipProfile,
		Logger:        log.With("component", "gossip"),
	})
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.GossipAddr, err)
	}
	m := &gossipMembers{g: g, meta: meta, log: log}
	if len(creds.seeds) > 0 {
		if err := m.join(ctx, creds.seeds, 30*time.Second); err != nil {
			_ = g.Shutdown()
			return nil, err
		}
		return m, nil
	}
	// The replicated state may still be empty here (a restarted member
	// applies its log only once it hears from a leader), so the peers are
	// also remembered in a file.
	known := loadPeers(cfg.DataDir)
	for _, addr := range gossipPeers(st, cfg.Name) {
		if !slices.Contains(known, addr) {
			known = append(known, addr)
		}
	}
	if len(known) > 0 {
		// Best effort: the others will also find us when they probe.
		if err := m.join(ctx, known, 10*time.Second); err != nil {
			log.Warn("rejoin gossip through the nodes known before the restart", "err", err)
		}
	}
	return m, nil
}

// join retries until a member accepts or the timeout passes: the seed may
// still be starting.
func (m *gossipMembers) join(ctx context.Context, seeds []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := m.g.Join(jctx, seeds)
		cancel()
		if err == nil {
			m.log.Info("joined the cluster's gossip", "through", seeds, "members", n)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("join the cluster through %v: %w", seeds, err)
		}
		m.log.Warn("join: retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// setPodCIDR tells the other agents this node's pod subnet.
func (m *gossipMembers) setPodCIDR(cidr string) {
	m.updateMeta(func(meta *gossip.NodeMeta) { meta.PodCIDR = cidr })
}

// setRuntimeReady tells the other agents, the leader above all, whether
// this node's container runtime is ready.
func (m *gossipMembers) setRuntimeReady(ready bool) {
	m.updateMeta(func(meta *gossip.NodeMeta) { meta.RuntimeNotReady = !ready })
}

// setDiskPressure tells the other agents whether this node's data dir is
// below its free-space reserve.
func (m *gossipMembers) setDiskPressure(pressure bool) {
	m.updateMeta(func(meta *gossip.NodeMeta) { meta.DiskPressure = pressure })
}

func (m *gossipMembers) updateMeta(change func(*gossip.NodeMeta)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	change(&m.meta)
	if err := m.g.UpdateMeta(m.meta); err != nil {
		m.log.Warn("gossip: update metadata", "err", err)
	}
}

// apiAddrs lists the API addresses of the alive members, self excluded.
func (m *gossipMembers) apiAddrs() []string {
	var out []string
	for _, mem := range m.g.Members() {
		if mem.State == gossip.StateAlive && mem.Name != m.g.LocalNode().Name && mem.Meta.Address != "" && mem.Meta.APIPort != 0 {
			out = append(out, net.JoinHostPort(mem.Meta.Address, strconv.Itoa(mem.Meta.APIPort)))
		}
	}
	return out
}

// stop leaves gossip without announcing a departure: a restarting agent
// should look like a short failure, not like a node removed for good.
func (m *gossipMembers) stop() { _ = m.g.Shutdown() }

const peersFile = "peers.json"

// gossipPeers lists the gossip addresses of the other nodes in st.
func gossipPeers(st *cluster.State, self string) []string {
	var out []string
	for _, n := range st.Nodes() {
		if n.Name != self && n.GossipAddr != "" {
			out = append(out, n.GossipAddr)
		}
	}
	return out
}

func loadPeers(dataDir string) []string {
	b, err := os.ReadFile(filepath.Join(dataDir, peersFile))
	if err != nil {
		return nil
	}
	var peers []string
	if json.Unmarshal(b, &peers) != nil {
		return nil
	}
	return peers
}

// rememberPeers keeps the other nodes' gossip addresses in the data dir
// whenever they change, for the next start.
func rememberPeers(ctx context.Context, store interface {
	State() *cluster.State
	Changed() <-chan struct{}
}, dataDir, self string, log *slog.Logger) {
	var last []string
	for {
		ch := store.Changed()
		peers := gossipPeers(store.State(), self)
		if len(peers) > 0 && !slices.Equal(peers, last) {
			b, _ := json.Marshal(peers)
			if err := writeSecret(filepath.Join(dataDir, peersFile), b); err != nil {
				log.Warn("remember gossip peers", "err", err)
			}
			last = peers
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// reconnect keeps trying to reach members gossip has declared dead (not
// left): after a partition heals, each side holds the other for dead and
// memberlist itself never probes a dead member again, so without this the
// two halves would stay apart (Serf's reconnect does the same).
func (m *gossipMembers) reconnect(ctx context.Context, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		var dead []string
		for _, mem := range m.g.Members() {
			if mem.State == gossip.StateDead && mem.Addr != "" {
				dead = append(dead, mem.Addr)
			}
		}
		if len(dead) == 0 {
			continue
		}
		jctx, cancel := context.WithTimeout(ctx, every)
		if n, err := m.g.Join(jctx, dead); err == nil {
			m.log.Info("gossip: reconnected to members held for dead", "members", n)
		}
		cancel()
	}
}
