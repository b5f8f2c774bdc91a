package gossip

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
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

// keyInfo binds the derived key to its use: the same cluster token may feed
// other KDFs (API bearer checks, Raft) and those keys must never coincide.
const keyInfo = "shoal gossip aes-256-gcm key v1"

// keySalt is fixed (not random) because every agent must derive the same key
// from the token alone; HKDF's security with a fixed salt rests on the
// token's entropy, which the token generator provides.
var keySalt = []byte("shoal-gossip-salt-v1")

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

	// Token is the cluster token. Gossip is encrypted with a key derived
	// from it, so the token itself never crosses the network and a node with
	// another token can neither join nor be joined (required).
	Token string

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
	case c.Token == "":
		return fmt.Errorf("%w: the cluster token is required (gossip is always encrypted)", ErrConfig)
	case c.BindPort < EphemeralPort || c.BindPort > 65535:
		return fmt.Errorf("%w: bind port %d out of range", ErrConfig, c.BindPort)
	case c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return fmt.Errorf("%w: advertise port %d out of range", ErrConfig, c.AdvertisePort)
	case c.Profile != "" && c.Profile != ProfileLAN && c.Profile != ProfileTest:
		return fmt.Errorf("%w: unknown profile %q (want %q or %q)", ErrConfig, c.Profile, ProfileLAN, ProfileTest)
	case c.ProbeInterval < 0 || c.ProbeTimeout < 0 || c.GossipInterval < 0 ||
		c.PushPullInterval < 0 || c.TCPTimeout < 0 || c.SuspicionMult < 0 ||
		c.UpdateTimeout < 0 || c.Tombstone < 0 || c.EventBuffer < 0:
		return fmt.Errorf("%w: timings and sizes must not be negative", ErrConfig)
	}
	if _, err := c.Meta.Encode(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// DeriveKey returns the AES-256 gossip key for a cluster token.
func DeriveKey(token string) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, []byte(token), keySalt, keyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive gossip key: %w", err)
	}
	return key, nil
}

// memberlistConfig converts c into memberlist's configuration; delegates
// are set by New.
func (c *Config) memberlistConfig(logger *slog.Logger) (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
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

	key, err := DeriveKey(c.Token)
	if err != nil {
		return nil, err
	}
	mc.SecretKey = key
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
