// Package gossip is Shoal's membership layer: which agents exist and whether
// they are up, over hashicorp/memberlist (SWIM), with a compact NodeMeta
// carried by each node.
//
// Gossip is always encrypted (AES-GCM) with a keyring of random keys of its
// own (Config.Keys, NewKey), unrelated to any API credential: a node that
// shares no key with the cluster can neither join nor be joined. The ring
// changes while the cluster runs (SetKeys), so its key can be rotated
// without a restart.
//
// Member states and where they come from:
//
//   - alive, dead, left: memberlist's verdict, delivered through its
//     EventDelegate (join, update, "leave"). Those callbacks run under
//     memberlist's node lock, so the node is copied there; reading
//     memberlist.Members() pointers later would race with memberlist's own
//     writes to them. memberlist's "leave" means dead or left without saying
//     which, so a leaving node first sends a leave intent to its peers (see
//     Leave).
//   - suspect: memberlist keeps its suspect state internal (no hook, and its
//     Members() pointers cannot be read race-free), so this package watches
//     for itself: each probe interval it pings a few live members round-robin
//     with memberlist.Ping (the same encrypted UDP ping SWIM uses) and marks a
//     member suspect after two consecutive failed pings, alive again after one
//     answered ping. Suspect is therefore this node's own view ("not heard
//     from"), which is what Shoal's NotReady means; dead is the cluster's
//     verdict and always wins. With the timings of both profiles a killed
//     node is seen suspect before memberlist declares it dead.
//
// Events are hints to react quickly; Members() is the truth. The Events
// channel is buffered and never blocks memberlist: when it is full the
// oldest event is dropped and Dropped() counts it, so a consumer that sees
// the counter move resynchronises from Members().
package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"shoal/cluster"

	"github.com/hashicorp/memberlist"
)

// Errors returned by this package; test with errors.Is.
var (
	// ErrConfig: the Config is invalid.
	ErrConfig = errors.New("gossip: invalid config")
	// ErrJoin: no seed accepted the join. The usual causes are a wrong
	// gossip key (the seed cannot decrypt us) or an unreachable address.
	ErrJoin = errors.New("no member accepted the join: the gossip key may be wrong or the address unreachable")
	// ErrMetaTooLarge: the encoded NodeMeta exceeds memberlist.MetaMaxSize.
	ErrMetaTooLarge = errors.New("gossip: node meta too large")
	// ErrMetaInvalid: NodeMeta cannot be encoded or decoded.
	ErrMetaInvalid = errors.New("gossip: invalid node meta")
	// ErrShutdown: the Gossip was shut down.
	ErrShutdown = errors.New("gossip: shut down")
	// ErrUpdateTimeout: a meta update was applied locally but its broadcast
	// did not leave within the timeout; it still spreads by gossip and
	// push/pull.
	ErrUpdateTimeout = errors.New("gossip: meta update broadcast timed out")
)

// State is a member's health as this node sees it.
type State string

// Member states.
const (
	StateAlive   State = "alive"
	StateSuspect State = "suspect" // not answering this node's pings
	StateDead    State = "dead"    // declared failed by the cluster
	StateLeft    State = "left"    // left gracefully
)

// Member is one node of the cluster.
type Member struct {
	Name string
	// Addr is the gossip address, host:port.
	Addr  string
	Meta  NodeMeta
	State State
	// StateSince is when this node saw State begin, on the local clock.
	StateSince time.Time
}

// EventType says what happened to a member.
type EventType int

// Event types.
const (
	EventJoin    EventType = iota + 1 // new, or back after dead/left
	EventUpdate                       // meta changed
	EventSuspect                      // stopped answering this node
	EventAlive                        // answered again after suspect
	EventFail                         // declared dead
	EventLeave                        // left gracefully
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventSuspect:
		return "suspect"
	case EventAlive:
		return "alive"
	case EventFail:
		return "fail"
	case EventLeave:
		return "leave"
	}
	return "unknown(" + strconv.Itoa(int(t)) + ")"
}

// Event is a change of one member; Member is its state after the change.
type Event struct {
	Type   EventType
	Member Member
}

// member is the internal record of a Member.
type member struct {
	Member
	ip    net.IP
	port  uint16
	fails int // consecutive failed watcher pings
}

// Gossip is a running membership.
type Gossip struct {
	cfg        Config
	log        *slog.Logger
	ml         *memberlist.Memberlist
	probeEvery time.Duration

	metaMu  sync.Mutex
	metaBuf []byte

	keyMu   sync.Mutex // serialises changes to keyring (see SetKeys)
	keyring *memberlist.Keyring

	mu      sync.Mutex
	members map[string]*member
	leaving map[string]time.Time // leave intents received, by node name
	// order is every member's name but this node's, sorted, kept as
	// members come and go: the watcher's round robin walks it from the
	// name after last, so a tick costs O(log n + fanout), not a sort of
	// every name (which, at thousands of members, cost each agent more
	// than memberlist's whole probe cycle).
	order    []string
	last     string    // the watcher's last target
	prunedAt time.Time // the last tombstone sweep

	evMu    sync.Mutex
	events  chan Event
	closed  bool
	dropped atomic.Uint64

	stateMu  sync.Mutex // serialises Leave and Shutdown
	shutdown bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New starts gossip on the configured address. The node is alone until
// Join.
func New(cfg Config) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.UpdateTimeout == 0 {
		cfg.UpdateTimeout = time.Duration(float64(5*time.Second) * max(cfg.TimeScale, 1))
	}
	if cfg.Tombstone == 0 {
		cfg.Tombstone = 24 * time.Hour
	}
	if cfg.EventBuffer == 0 {
		cfg.EventBuffer = 256
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "gossip", "node", cfg.NodeName)
	metaBuf, err := cfg.Meta.Encode()
	if err != nil {
		return nil, err
	}
	g := &Gossip{
		cfg:     cfg,
		log:     logger,
		metaBuf: metaBuf,
		members: make(map[string]*member),
		leaving: make(map[string]time.Time),
		events:  make(chan Event, cfg.EventBuffer),
		stop:    make(chan struct{}),
	}
	mc, err := cfg.memberlistConfig(logger)
	if err != nil {
		return nil, err
	}
	mc.Delegate = (*metaDelegate)(g)
	mc.Events = (*eventDelegate)(g)
	g.probeEvery = mc.ProbeInterval
	g.keyring = mc.Keyring
	g.cfg.Keys = nil // the ring lives in keyring alone, and changes (SetKeys)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start memberlist on %s:%d: %w", mc.BindAddr, mc.BindPort, err)
	}
	g.ml = ml
	g.wg.Add(1)
	go g.watch()
	g.log.Info("gossip started", "addr", g.LocalNode().Addr, "profile", cfg.profile())
	return g, nil
}

func (c *Config) profile() string {
	if c.Profile == "" {
		return ProfileLAN
	}
	return c.Profile
}

// Join contacts the seeds (host:port, port cluster.DefaultGossipPort when absent) and
// merges their state; it returns how many seeds answered. It fails with
// ErrJoin when none did, or with ctx's error if ctx ends first (the attempt
// then finishes in the background within the TCP timeout).
func (g *Gossip) Join(ctx context.Context, addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no seed address given", ErrJoin)
	}
	seeds := make([]string, 0, len(addrs))
	for _, a := range addrs {
		seeds = append(seeds, withDefaultPort(a))
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := g.ml.Join(seeds)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || r.n == 0 {
			return 0, fmt.Errorf("%w: %v", ErrJoin, r.err)
		}
		g.log.Info("joined cluster", "seeds", seeds, "contacted", r.n)
		return r.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("gossip: join %v: %w", seeds, ctx.Err())
	}
}

// withDefaultPort adds cluster.DefaultGossipPort to an address without one, IPv6 included.
func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	if len(addr) > 1 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	return net.JoinHostPort(addr, strconv.Itoa(cluster.DefaultGossipPort))
}

// Members returns every known member, this node included, dead and left
// ones until the tombstone time passes, sorted by name.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m.Member)
	}
	slices.SortFunc(out, func(a, b Member) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// LocalNode returns this node as the cluster sees it.
func (g *Gossip) LocalNode() Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m, ok := g.members[g.cfg.NodeName]; ok {
		return m.Member
	}
	// Only before memberlist announced us, i.e. never after New returns.
	return Member{Name: g.cfg.NodeName, Meta: g.cfg.Meta, State: StateAlive}
}

// UpdateMeta replaces this node's meta and broadcasts it, waiting at most
// Config.UpdateTimeout for the broadcast to leave.
func (g *Gossip) UpdateMeta(meta NodeMeta) error {
	b, err := meta.Encode()
	if err != nil {
		return err
	}
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	if g.shutdown {
		return ErrShutdown
	}
	g.metaMu.Lock()
	g.metaBuf = b
	g.metaMu.Unlock()
	if err := g.ml.UpdateNode(g.cfg.UpdateTimeout); err != nil {
		return fmt.Errorf("%w after %s: %w", ErrUpdateTimeout, g.cfg.UpdateTimeout, err)
	}
	return nil
}

// Events returns the event channel. It is closed by Shutdown.
func (g *Gossip) Events() <-chan Event { return g.events }

// Dropped returns how many events were dropped because the channel was
// full; when it moves, resynchronise from Members().
func (g *Gossip) Dropped() uint64 { return g.dropped.Load() }

// Leave tells the cluster this node is going, so others see it left, not
// dead, and waits at most timeout. Gossip keeps running until Shutdown.
//
// memberlist does not tell its EventDelegate whether a node left or died
// (the state it passes is always zero), so, like Serf, this node first
// sends a leave intent to every live member directly (TCP, encrypted) and
// only then memberlist's leave message; a member that receives the intent
// reports the leave as EventLeave, one that misses it as EventFail.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	if g.shutdown {
		return ErrShutdown // memberlist panics on Leave after Shutdown
	}
	start := time.Now()
	g.sendLeaveIntent(timeout / 2)
	rest := timeout - time.Since(start)
	if rest <= 0 {
		rest = time.Millisecond
	}
	if err := g.ml.Leave(rest); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	g.log.Info("left cluster")
	return nil
}

// msgLeave starts a leave intent user message; the node name follows.
const msgLeave byte = 1

// sendLeaveIntent tells every live peer that this node is leaving, waiting
// at most timeout for all of them.
func (g *Gossip) sendLeaveIntent(timeout time.Duration) {
	msg := append([]byte{msgLeave}, g.cfg.NodeName...)
	g.mu.Lock()
	g.leaving[g.cfg.NodeName] = time.Now()
	var peers []*memberlist.Node
	for _, m := range g.members {
		if m.Name != g.cfg.NodeName && (m.State == StateAlive || m.State == StateSuspect) {
			peers = append(peers, &memberlist.Node{Name: m.Name, Addr: m.ip, Port: m.port})
		}
	}
	g.mu.Unlock()
	done := make(chan struct{}, len(peers))
	for _, p := range peers {
		go func() {
			if err := g.ml.SendReliable(p, msg); err != nil {
				g.log.Warn("leave intent not delivered; the peer will see a failure", "peer", p.Name, "err", err)
			}
			done <- struct{}{}
		}()
	}
	deadline := time.After(timeout)
	for range peers {
		select {
		case <-done:
		case <-deadline:
			return
		}
	}
}

// leaveIntent records that name announced its leave; a dead verdict that
// came first (the intent raced it) is corrected to left.
func (g *Gossip) leaveIntent(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaving[name] = time.Now()
	if m := g.members[name]; m != nil && m.State == StateDead {
		g.setState(m, StateLeft, EventLeave)
	}
}

// Shutdown stops gossip without a leave message (others will detect the
// node as failed unless Leave came first) and closes Events. It is safe to
// call more than once.
func (g *Gossip) Shutdown() error {
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	if g.shutdown {
		return nil
	}
	g.shutdown = true
	close(g.stop)
	g.wg.Wait()
	err := g.ml.Shutdown()
	g.evMu.Lock()
	g.closed = true
	close(g.events)
	g.evMu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}

// emit queues e without ever blocking: memberlist calls us under its node
// lock, so a stuck consumer must not stall failure detection.
func (g *Gossip) emit(e Event) {
	g.evMu.Lock()
	defer g.evMu.Unlock()
	if g.closed {
		return
	}
	for {
		select {
		case g.events <- e:
			return
		default:
		}
		// Full: drop the oldest. Only emit sends, under evMu, so after
		// one receive (ours or the consumer's) the next send fits.
		select {
		case <-g.events:
			g.dropped.Add(1)
		default:
		}
	}
}

// setState changes a member's state and emits typ; the caller holds g.mu.
func (g *Gossip) setState(m *member, s State, typ EventType) {
	m.State = s
	m.StateSince = time.Now()
	m.fails = 0
	g.emit(Event{Type: typ, Member: m.Member})
}

// record copies a memberlist node into g.members and returns it; the caller
// holds g.mu. The node must only be read here, inside memberlist's
// callback, where memberlist's lock makes the read safe.
func (g *Gossip) record(n *memberlist.Node) *member {
	m, ok := g.members[n.Name]
	if !ok {
		m = &member{Member: Member{Name: n.Name}}
		g.members[n.Name] = m
		if n.Name != g.cfg.NodeName {
			i, _ := slices.BinarySearch(g.order, n.Name)
			g.order = slices.Insert(g.order, i, n.Name)
		}
	}
	m.ip = slices.Clone(n.Addr)
	m.port = n.Port
	m.Addr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		g.log.Warn("unreadable node meta; keeping the node with empty meta", "peer", n.Name, "err", err)
		meta = NodeMeta{}
	}
	if meta.Address == "" {
		meta.Address = n.Addr.String()
	}
	m.Meta = meta
	return m
}

// eventDelegate receives memberlist's join/update/leave callbacks.
type eventDelegate Gossip

func (d *eventDelegate) NotifyJoin(n *memberlist.Node) {
	g := (*Gossip)(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.leaving, n.Name) // back: an old intent must not mark its next failure a leave
	g.setState(g.record(n), StateAlive, EventJoin)
}

func (d *eventDelegate) NotifyUpdate(n *memberlist.Node) {
	g := (*Gossip)(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.record(n)
	if m.State == "" {
		m.State, m.StateSince = StateAlive, time.Now()
	}
	g.emit(Event{Type: EventUpdate, Member: m.Member})
}

// NotifyLeave is memberlist's "dead or left"; n.State does not say which
// (see Leave), the leave intents do.
func (d *eventDelegate) NotifyLeave(n *memberlist.Node) {
	g := (*Gossip)(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.record(n)
	if _, ok := g.leaving[n.Name]; ok {
		g.setState(m, StateLeft, EventLeave)
		g.log.Info("member left", "peer", n.Name)
		return
	}
	g.setState(m, StateDead, EventFail)
	g.log.Warn("member failed", "peer", n.Name)
}

// metaDelegate gives memberlist this node's meta and receives leave
// intents; state exchange is unused (the Raft state carries everything else).
type metaDelegate Gossip

func (d *metaDelegate) NodeMeta(limit int) []byte {
	g := (*Gossip)(d)
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	if len(g.metaBuf) > limit {
		// Encode keeps meta under MetaMaxSize, so only a smaller limit from
		// a future memberlist lands here; sending none beats its panic.
		g.log.Error("node meta over memberlist's limit; sending none", "size", len(g.metaBuf), "limit", limit)
		return nil
	}
	return slices.Clone(g.metaBuf)
}

func (d *metaDelegate) NotifyMsg(b []byte) {
	if len(b) > 1 && b[0] == msgLeave {
		(*Gossip)(d).leaveIntent(string(b[1:]))
	}
}

func (d *metaDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *metaDelegate) LocalState(join bool) []byte                { return nil }
func (d *metaDelegate) MergeRemoteState(buf []byte, join bool)     {}
