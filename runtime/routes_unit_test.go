package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestChainNameFitsIptables(t *testing.T) {
	if got := chainName("POSTROUTING", "shoal0"); got != "SHOAL-POSTROUTING-shoal0" {
		t.Errorf("short bridge: %q", got)
	}
	a := chainName("POSTROUTING", "shoal-bridge-01")
	b := chainName("POSTROUTING", "shoal-bridge-02")
	if len(a) > maxChainLen || len(b) > maxChainLen || a == b {
		t.Errorf("long bridges: %q, %q", a, b)
	}
	if !strings.HasPrefix(a, "SHOAL-POSTROUTING-") {
		t.Errorf("long bridge lost the prefix: %q", a)
	}
}

func TestNATRules(t *testing.T) {
	n, err := newNATRules("shoal0", "10.88.3.0/24", "10.88.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	want := `*nat
:SHOAL-POSTROUTING-shoal0 - [0:0]
-A SHOAL-POSTROUTING-shoal0 -s 10.88.3.0/24 ! -d 10.88.0.0/16 -j MASQUERADE
COMMIT
*filter
:SHOAL-FORWARD-shoal0 - [0:0]
-A SHOAL-FORWARD-shoal0 -s 10.88.3.0/24 -j ACCEPT
-A SHOAL-FORWARD-shoal0 -s 10.88.0.0/16 -d 10.88.3.0/24 -j ACCEPT
-A SHOAL-FORWARD-shoal0 -d 10.88.3.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`
	if got := string(n.restore()); got != want {
		t.Errorf("restore:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range [][2]string{{"10.89.0.0/24", "10.88.0.0/16"}, {"10.88.0.0/16", "10.88.0.0/24"}, {"x", "10.88.0.0/16"}, {"10.88.0.0/24", "fd00::/8"}} {
		if _, err := newNATRules("b", bad[0], bad[1]); err == nil {
			t.Errorf("pod %s in cluster %s accepted", bad[0], bad[1])
		}
	}
}

// With a cluster CIDR the bridge plugin must not masquerade: our rule does.
func TestNetworkClusterCIDRTurnsOffIPMasq(t *testing.T) {
	for _, tc := range []struct {
		cluster string
		masq    bool
	}{{"", true}, {"10.88.0.0/16", false}} {
		n, err := newNetwork(Config{DataDir: "/data", CNI: CNIConfig{BridgeName: "br9", PodCIDR: "10.88.7.0/24", ClusterCIDR: tc.cluster}})
		if err != nil {
			t.Fatal(err)
		}
		var conf struct {
			Plugins []map[string]any `json:"plugins"`
		}
		if err := json.Unmarshal(n.conf, &conf); err != nil {
			t.Fatal(err)
		}
		if got := conf.Plugins[0]["ipMasq"]; got != tc.masq {
			t.Errorf("cluster %q: ipMasq = %v", tc.cluster, got)
		}
		if (n.nat != nil) == tc.masq {
			t.Errorf("cluster %q: nat rules %v", tc.cluster, n.nat)
		}
	}
	if _, err := newNetwork(Config{CNI: CNIConfig{BridgeName: "b", PodCIDR: "10.1.0.0/24", ClusterCIDR: "10.88.0.0/16"}}); err == nil {
		t.Error("pod CIDR outside the cluster CIDR accepted")
	}
}

// fakeIP answers `ip -j route show` from a list and records changes.
type fakeIP struct {
	owned, all string // JSON answers
	cmds       []string
	fail       map[string]bool // command line → fails
}

func (f *fakeIP) run(_ context.Context, _ []byte, name string, args ...string) ([]byte, error) {
	line := name + " " + strings.Join(args, " ")
	if strings.Contains(line, "route show") {
		if strings.HasSuffix(line, "proto 83") {
			return []byte(f.owned), nil
		}
		return []byte(f.all), nil
	}
	f.cmds = append(f.cmds, line)
	if f.fail[line] {
		return nil, errors.New("RTNETLINK answers: Network is unreachable")
	}
	return nil, nil
}

func TestSyncRoutesChangesOnlyWhatDiffers(t *testing.T) {
	f := &fakeIP{
		owned: `[{"dst":"10.88.2.0/24","gateway":"192.168.1.2"},{"dst":"10.88.3.0/24","gateway":"192.168.1.9"},{"dst":"10.88.4.0/24","gateway":"192.168.1.4"}]`,
		all: `[{"dst":"default","gateway":"192.168.1.254","protocol":"dhcp","metric":100},
			{"dst":"10.88.2.0/24","gateway":"192.168.1.2","protocol":"83"},
			{"dst":"10.88.3.0/24","gateway":"192.168.1.9","protocol":"83"},
			{"dst":"10.88.4.0/24","gateway":"192.168.1.4","protocol":"83"},
			{"dst":"10.88.6.0/24","dev":"vpn0","protocol":"static"},
			{"dst":"10.88.7.0/24","dev":"eth1","protocol":"static","metric":50}]`,
	}
	h := &hostNet{run: f.run}
	err := h.syncRoutes(context.Background(), []Route{
		{CIDR: "10.88.2.0/24", Via: "192.168.1.2"}, // unchanged
		{CIDR: "10.88.3.5/24", Via: "192.168.1.3"}, // moved (and unmasked)
		{CIDR: "10.88.5.0/24", Via: "192.168.1.5"}, // new
		{CIDR: "10.88.6.0/24", Via: "192.168.1.6"}, // someone else's
		{CIDR: "10.88.7.0/24", Via: "192.168.1.7"}, // someone else's, other metric
	})
	want := []string{
		"ip -4 route del 10.88.4.0/24 table main proto 83",
		"ip -4 route replace 10.88.3.0/24 via 192.168.1.3 table main proto 83",
		"ip -4 route replace 10.88.5.0/24 via 192.168.1.5 table main proto 83",
		"ip -4 route replace 10.88.7.0/24 via 192.168.1.7 table main proto 83",
	}
	if strings.Join(f.cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(f.cmds, "\n"), strings.Join(want, "\n"))
	}
	if err == nil || !strings.Contains(err.Error(), "10.88.6.0/24") || !strings.Contains(err.Error(), "another owner") {
		t.Errorf("conflict not reported: %v", err)
	}

	// Nothing to do: only the listing runs. A bad route is reported, the
	// others still applied.
	f = &fakeIP{owned: `[{"dst":"10.88.2.0/24","gateway":"192.168.1.2"}]`, all: `[]`}
	h = &hostNet{run: f.run}
	if err := h.syncRoutes(context.Background(), []Route{{CIDR: "10.88.2.0/24", Via: "192.168.1.2"}}); err != nil || len(f.cmds) != 0 {
		t.Errorf("no-op sync: %v, %v", err, f.cmds)
	}
	f.fail = map[string]bool{"ip -4 route replace 10.88.9.0/24 via 192.168.9.9 table main proto 83": true}
	err = h.syncRoutes(context.Background(), []Route{{CIDR: "bad", Via: "192.168.1.2"}, {CIDR: "10.88.9.0/24", Via: "192.168.9.9"}, {CIDR: "10.88.8.0/24", Via: "192.168.1.8"}})
	if err == nil || !strings.Contains(err.Error(), "bad") || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("errors not reported: %v", err)
	}
	if len(f.cmds) != 3 { // del 10.88.2, replace 10.88.8 and 10.88.9
		t.Errorf("commands: %v", f.cmds)
	}
}
