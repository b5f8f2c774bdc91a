package gossip

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"time"

	"shoal/cluster"

	"github.com/hashicorp/memberlist"
)

// EphemeralPort as Config.BindPort asks the OS for a free port (tests; the
// port actually bound is in LocalNode().Addr). Zero means cluster.DefaultGossipPort.
const EphemeralPort = -1

// Profiles select a family of memberlist timings.
const (
	// ProfileLAN is memberlist.DefaultLANConfig: probe every 1 s, suspicion
	// 4 × max(1, log10 n) probe intervals (4 s for up to 10 nodes).
	ProfileLAN = "lan"
	// ProfileTest tightens every timer so that in-process clusters converge
	// and detect failures in well under a second.
	ProfileTest = "test"
)

// Config is the gossip layer's own configuration; the agent converts its
// user-facing configuration into it.
type Config struct {
	// NodeName is the unique memberlist name of this node (required).
	NodeName string
	// BindAddr is the IP gossip listens on (default 0.0.0.0).
	BindAddr string
	// BindPort is the TCP and UDP port (0: cluster.DefaultGossipPort; EphemeralPort: any).
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other nodes dial; empty/zero
	// lets memberlist pick the bind address (or a private IP when bound to
	// 0.0.0.0) and the bind port.
	AdvertiseAddr string
	AdvertisePort int

	// Keys is the gossip keyring, the primary key (the one messages are
	// encrypted with) first; the others are only tried to decrypt. Each
	// key is 16, 24 or 32 bytes (AES-128/192/256; NewKey makes 32). A node
	// that shares no key with the cluster can neither join nor be joined
	// (required; see SetKeys to change it while running).
	Keys [][]byte

	// Meta is this node's initial metadata.
	Meta NodeMeta

	// Profile is ProfileLAN (default) or ProfileTest. The fields below,
	// when non-zero, override single timings of the profile.
	Profile          string
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	SuspicionMult    int
	GossipInterval   time.Duration
	PushPullInterval time.Duration
	TCPTimeout       time.Duration

	// TimeScale, above 1, stretches every timing of memberlist and of the
	// watcher by that factor, after the profile and the overrides above:
	// probes, timeouts, gossip, push/pull, and how long the dead are
	// gossiped to. A simulation that runs more members in one process than
	// its cores carry in real time runs them this much slower; their
	// protocol, whose timeouts are all relative to these, behaves as it
	// would at full speed with that many more cores, and its times divide
	// by the factor (sim/gossipsim -dilate). 0 or 1: real time.
	TimeScale float64

	// UpdateTimeout bounds UpdateMeta's wait for the broadcast to leave
	// (default 5 s).
	UpdateTimeout time.Duration
	// Tombstone is how long Members keeps a dead or left node (default 24 h),
	// so callers can still show it as Down.
	Tombstone time.Duration
	// EventBuffer is the capacity of the Events channel (default 256).
	EventBuffer int

	// Logger receives memberlist's log, translated to slog levels.
	Logger *slog.Logger

	// Transport replaces the UDP/TCP transport (tests: memberlist's
	// MockNetwork). BindAddr and BindPort are then ignored.
	Transport memberlist.NodeAwareTransport
}

// Validate reports the first problem of c.
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return fmt.Errorf("%w: node name is required", ErrConfig)
	case c.BindPort < EphemeralPort || c.BindPort > 65535:
		return fmt.Errorf("%w: bind port %d out of range", ErrConfig, c.BindPort)
	case c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return fmt.Errorf("%w: advertise port %d out of range", ErrConfig, c.AdvertisePort)
	case c.Profile != "" && c.Profile != ProfileLAN && c.Profile != ProfileTest:
		return fmt.Errorf("%w: unknown profile %q (want %q or %q)", ErrConfig, c.Profile, ProfileLAN, ProfileTest)
	case c.ProbeInterval < 0 || c.ProbeTimeout < 0 || c.GossipInterval < 0 ||
		c.PushPullInterval < 0 || c.TCPTimeout < 0 || c.SuspicionMult < 0 ||
		c.UpdateTimeout < 0 || c.Tombstone < 0 || c.EventBuffer < 0 || c.TimeScale < 0:
		return fmt.Errorf("%w: timings and sizes must not be negative", ErrConfig)
	case c.TimeScale != 0 && c.TimeScale < 1:
		return fmt.Errorf("%w: time scale %v: want 1 or more (0: real time)", ErrConfig, c.TimeScale)
	}
	if err := validateKeys(c.Keys); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := c.Meta.Encode(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// memberlistConfig converts c into memberlist's configuration; delegates
// are set by New.
func (c *Config) memberlistConfig(logger *slog.Logger) (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	// memberlist LZW-compresses every packet it sends, pings and acks
	// included, and keeps the result only when smaller; the 16 KiB table
	// each compression allocates made it, with the garbage collection it
	// causes, the largest CPU cost of an idle member (sim/gossipsim). The
	// bytes it saves are a few hundred per member and second; a peer that
	// still compresses is understood either way.
	mc.EnableCompression = false
	if c.Profile == ProfileTest {
		// Probe often, but with a timeout that survives a loaded CI machine
		// under -race; suspicion lasts several probes so that a dead node is
		// seen suspect before it is declared dead.
		mc.ProbeInterval = 100 * time.Millisecond
		mc.ProbeTimeout = 60 * time.Millisecond
		mc.SuspicionMult = 4
		mc.SuspicionMaxTimeoutMult = 2
		mc.GossipInterval = 20 * time.Millisecond
		mc.PushPullInterval = time.Second
		mc.TCPTimeout = 2 * time.Second
		mc.GossipToTheDeadTime = time.Second
		mc.RetransmitMult = 3
	}
	if c.ProbeInterval > 0 {
		mc.ProbeInterval = c.ProbeInterval
	}
	if c.ProbeTimeout > 0 {
		mc.ProbeTimeout = c.ProbeTimeout
	}
	if c.SuspicionMult > 0 {
		mc.SuspicionMult = c.SuspicionMult
	}
	if c.GossipInterval > 0 {
		mc.GossipInterval = c.GossipInterval
	}
	if c.PushPullInterval > 0 {
		mc.PushPullInterval = c.PushPullInterval
	}
	if c.TCPTimeout > 0 {
		mc.TCPTimeout = c.TCPTimeout
	}
	if k := c.TimeScale; k > 1 {
		for _, d := range []*time.Duration{&mc.ProbeInterval, &mc.ProbeTimeout, &mc.GossipInterval,
			&mc.PushPullInterval, &mc.TCPTimeout, &mc.GossipToTheDeadTime, &mc.QueueCheckInterval} {
			*d = time.Duration(float64(*d) * k)
		}
	}

	mc.Name = c.NodeName
	if c.BindAddr != "" {
		mc.BindAddr = c.BindAddr
	}
	switch c.BindPort {
	case 0:
		mc.BindPort = cluster.DefaultGossipPort
	case EphemeralPort:
		mc.BindPort = 0 // memberlist finds a port free for both TCP and UDP
	default:
		mc.BindPort = c.BindPort
	}
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	if c.Transport != nil {
		mc.Transport = c.Transport
	}

	// Copies: memberlist keeps the slices it is given, and the caller's
	// must not be able to change the ring behind its back.
	keys := cloneKeys(c.Keys)
	ring, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	mc.Keyring = ring
	// Refuse clear-text gossip both ways: a node without the key must not be
	// able to inject alive/dead messages.
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true

	mc.LogOutput = nil
	mc.Logger = log.New(&slogWriter{log: logger}, "", 0)
	return mc, nil
}

// slogWriter turns memberlist's "[LEVEL] memberlist: text" lines into slog
// records, so its chatter obeys the agent's log level and format.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(bytes.TrimRight(p, "\n")))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{
		"[DEBUG]": slog.LevelDebug, "[TRACE]": slog.LevelDebug,
		"[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn,
		"[ERR]": slog.LevelError, "[ERROR]": slog.LevelError,
	} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			level, line = l, strings.TrimSpace(rest)
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
