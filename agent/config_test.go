package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"shoal/internal/testenv"
	"shoal/pki"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		check func(Config) string
		err   string
	}{
		{
			name: "defaults",
			cfg:  Config{Name: "n1", DataDir: "/d"},
			check: func(c Config) string {
				if c.Bind != "127.0.0.1" || c.Advertise != "127.0.0.1" || c.APIAddr != "127.0.0.1:7948" ||
					c.RaftAddr != "127.0.0.1:7947" || c.GossipAddr != "127.0.0.1:7946" || c.BridgeName != "shoal0" ||
					c.ClusterCIDR != "10.88.0.0/16" || c.ContainerdNamespace != "shoal" || c.GossipProfile != "lan" ||
					c.DeadGrace != 30*time.Second || c.Lease != 10*time.Second || c.LeaseMargin != 5*time.Second ||
					c.MetricsInterval != 10*time.Second || c.HPASyncPeriod != 15*time.Second || c.RaftCommitTimeout != DefaultRaftCommitTimeout {
					return "defaults not filled"
				}
				return ""
			},
		},
		{
			name: "advertise defaults to bind",
			cfg:  Config{Name: "n1", DataDir: "/d", Bind: "10.0.0.5"},
			check: func(c Config) string {
				if c.Advertise != "10.0.0.5" || c.RaftAddr != "10.0.0.5:7947" || c.GossipAdvertise() != "10.0.0.5:7946" {
					return "advertise " + c.Advertise
				}
				return ""
			},
		},
		{
			name: "bind all interfaces advertises a host address",
			cfg:  Config{Name: "n1", DataDir: "/d", Bind: "0.0.0.0"},
			check: func(c Config) string {
				if ip := net.ParseIP(c.Advertise); ip == nil || ip.IsUnspecified() {
					return "advertise " + c.Advertise
				}
				return ""
			},
		},
		{name: "missing name and dir", cfg: Config{}, err: "--name: required"},
		{name: "commit timeout too long", cfg: Config{Name: "n1", DataDir: "/d", RaftCommitTimeout: 2 * time.Second}, err: "--raft-commit-timeout 2s: expected 1ms to 1s"},
		{name: "commit timeout negative", cfg: Config{Name: "n1", DataDir: "/d", RaftCommitTimeout: -time.Millisecond}, err: "--raft-commit-timeout -1ms"},
		{name: "bad bind", cfg: Config{Name: "n", DataDir: "/d", Bind: "host"}, err: `--bind "host": not an IP address`},
		{name: "bad profile", cfg: Config{Name: "n", DataDir: "/d", GossipProfile: "wan"}, err: "--gossip-profile"},
		{name: "bad api addr", cfg: Config{Name: "n", DataDir: "/d", APIAddr: "nope"}, err: `--api-addr "nope": expected HOST:PORT`},
		{name: "metrics interval too short", cfg: Config{Name: "n", DataDir: "/d", MetricsInterval: 100 * time.Millisecond}, err: "--metrics-interval 100ms: expected 1s to 30s"},
		{name: "hpa sync period too short", cfg: Config{Name: "n", DataDir: "/d", HPASyncPeriod: 100 * time.Millisecond}, err: "--hpa-sync-period 100ms: expected 1s to 10m"},
		{name: "metrics interval too long", cfg: Config{Name: "n", DataDir: "/d", MetricsInterval: time.Minute}, err: "--metrics-interval 1m0s: expected 1s to 30s"},
		{name: "bad cidr", cfg: Config{Name: "n", DataDir: "/d", ClusterCIDR: "10.88/16"}, err: "--cluster-cidr"},
		{name: "service cidr overlaps pods", cfg: Config{Name: "n", DataDir: "/d", ClusterCIDR: "10.0.0.0/8"}, err: "--service-cidr: service CIDR 10.43.0.0/16 overlaps the cluster (pod) CIDR 10.0.0.0/8"},
		{name: "bad service cidr", cfg: Config{Name: "n", DataDir: "/d", ServiceCIDR: "10.43.0.0/30"}, err: "--service-cidr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			err := cfg.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				// A laptop offline may have no such address; CI's machine
				// has one, and there a failure must show.
				if tc.name == "bind all interfaces advertises a host address" && strings.Contains(err.Error(), "no global unicast") && !testenv.CI() {
					t.Skip("this host has no global unicast address")
				}
				t.Fatal(err)
			}
			if msg := tc.check(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestHostAddress(t *testing.T) {
	cidr := func(s string) net.Addr {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	for _, tc := range []struct {
		name  string
		addrs []net.Addr
		err   error
		want  string
	}{
		{name: "IPv4 first", addrs: []net.Addr{cidr("127.0.0.1/8"), cidr("fe80::1/64"), cidr("2001:db8::5/64"), cidr("192.168.1.12/24")}, want: "192.168.1.12"},
		{name: "IPv6 when no IPv4", addrs: []net.Addr{cidr("127.0.0.1/8"), cidr("2001:db8::5/64")}, want: "2001:db8::5"},
		{name: "loopback only", addrs: []net.Addr{cidr("127.0.0.1/8"), cidr("::1/128")}, want: ""},
		{name: "listing fails", err: errors.New("boom"), want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hostAddress(func() ([]net.Addr, error) { return tc.addrs, tc.err })
			if got != tc.want || (tc.want == "") != (err != nil) {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestForwardFor(t *testing.T) {
	addrs := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("192.168.1.12").To4(), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("2001:db8::5"), Mask: net.CIDRMask(64, 128)},
		}, nil
	}
	got := fmt.Sprint(forwardFor("10.88.0.0/16", addrs, slog.New(slog.DiscardHandler)))
	if want := "[10.88.0.0/16 192.168.1.12/32 2001:db8::5/128]"; got != want {
		t.Errorf("forwardFor = %s, want %s", got, want)
	}
	got = fmt.Sprint(forwardFor("bad", func() ([]net.Addr, error) { return nil, errors.New("boom") }, slog.New(slog.DiscardHandler)))
	if got != "[]" {
		t.Errorf("forwardFor without addresses = %s", got)
	}
}

func TestCredentials(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	base := Config{Name: "n1", Bind: "10.0.0.1", APIAddr: "10.0.0.1:7948"}
	for _, tc := range []struct {
		name  string
		token string
		join  []string
		err   string
	}{
		{name: "new cluster refuses a given token", token: "SHOAL1-x", err: "--token is for --join"},
		{name: "joining needs a token", join: []string{"10.0.0.2"}, err: "--join needs the join token"},
		{name: "weak join token", join: []string{"10.0.0.2"}, token: "SHOAL1-" + strings.Repeat("a", 64) + "-0123456789abcdef", err: "at least 128"},
		{name: "not a join token", join: []string{"10.0.0.2"}, token: "password", err: "expected a join token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.DataDir, cfg.Token, cfg.Join = t.TempDir(), tc.token, tc.join
			_, err := loadOrCreateCredentials(ctx, cfg, log)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			if _, serr := os.Stat(filepath.Join(cfg.DataDir, tlsDir, certFile)); serr == nil {
				t.Error("a refused start left a certificate")
			}
		})
	}

	// A new cluster: everything root only, the same identity after a
	// restart.
	cfg := base
	cfg.DataDir = t.TempDir()
	c, err := loadOrCreateCredentials(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if c.boot == nil || c.id.NodeName() != "n1" || len(c.gossipKeys) != 1 {
		t.Fatalf("new cluster credentials %+v", c)
	}
	leaf := c.id.Leaf()
	if !slices.ContainsFunc(leaf.IPAddresses, net.ParseIP("10.0.0.1").Equal) || !slices.ContainsFunc(leaf.IPAddresses, net.IPv4(127, 0, 0, 1).Equal) {
		t.Errorf("SANs %v", leaf.IPAddresses)
	}
	for _, f := range []string{tlsDir + "/" + certFile, tlsDir + "/" + keyFile, tlsDir + "/" + caFile, tlsDir + "/" + bootstrapFile, gossipKeyFile} {
		fi, err := os.Stat(filepath.Join(cfg.DataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	again, err := loadOrCreateCredentials(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if !again.id.Leaf().Equal(leaf) || again.boot == nil || again.boot.JoinToken != c.boot.JoinToken {
		t.Error("a restart changed the identity or lost the bootstrap")
	}

	// A renewal cut short between its renames is finished on load.
	dir := filepath.Join(cfg.DataDir, tlsDir)
	key, _ := pki.NewKey()
	keyPEM, _ := pki.EncodeKey(key)
	ca, err := pki.ParseCA([]byte(c.boot.Trust.CACert), []byte(c.boot.Trust.CAKey))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SignNode(key.Public(), pki.NodeRequest{Name: "n1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.WriteFile(filepath.Join(dir, keyFile), keyPEM, 0o600), os.WriteFile(filepath.Join(dir, certFile+".new"), cert, 0o600)); err != nil {
		t.Fatal(err)
	}
	renewed, err := loadOrCreateCredentials(ctx, cfg, log)
	if err != nil {
		t.Fatalf("load after an interrupted renewal: %v", err)
	}
	if renewed.id.Leaf().Equal(leaf) {
		t.Error("the interrupted renewal was not finished")
	}
}
