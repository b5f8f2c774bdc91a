package runtime

import (
	"os"
	"strings"
	"testing"
)

// TestServiceRules: the restore text for cluster IPs, node ports,
// ClientIP affinity, externalTrafficPolicy Local, a port without
// endpoints and a stale chain, against a reviewed golden file.
func TestServiceRules(t *testing.T) {
	n, err := newServiceRules("shoal0", "10.88.3.0/24", "10.88.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.restore([]ServicePort{
		{Service: "default/web:http", Protocol: "TCP", ClusterIP: "10.43.0.10", Port: 80, NodePort: 30080, Endpoints: []Endpoint{{"10.88.1.2", 8080, false}, {"10.88.3.2", 8080, true}}},
		{Service: "default/sticky:", ClusterIP: "10.43.0.11", Port: 80, AffinitySeconds: 10800, Endpoints: []Endpoint{{"10.88.1.3", 80, false}, {"10.88.3.3", 80, true}}},
		{Service: "default/idle:", ClusterIP: "10.43.0.12", Port: 80},
		{Service: "default/local:", ClusterIP: "10.43.0.13", Port: 53, Protocol: "UDP", NodePort: 30053, NodeLocal: true, Endpoints: []Endpoint{{"10.88.1.4", 53, false}, {"10.88.3.4", 53, true}}},
	}, []string{"PREROUTING", "SHOAL-S" + n.dyn + "-0123456789abcdef", "SHOAL-Sffff-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/service-rules.golden")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("restore:\n%s\nwant:\n%s", got, want)
	}
}

func TestServiceRulesRefuseBadPorts(t *testing.T) {
	n, err := newServiceRules("shoal0", "10.88.3.0/24", "10.88.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		port ServicePort
		err  string
	}{
		{"endpoint", ServicePort{Service: "d/bad:", ClusterIP: "10.43.0.1", Port: 80, Endpoints: []Endpoint{{IP: "fd00::1", Port: 80}}}, "service d/bad:: endpoint fd00::1:80 is not an IPv4 address and port"},
		{"cluster IP", ServicePort{Service: "d/bad:", ClusterIP: "x", Port: 80}, "cluster IP x port 80"},
		{"port", ServicePort{Service: "d/bad:", ClusterIP: "10.43.0.1", Port: 0}, "cluster IP 10.43.0.1 port 0"},
		{"protocol", ServicePort{Service: "d/bad:", Protocol: "ICMP", NodePort: 30000}, `protocol "ICMP"`},
	} {
		good := ServicePort{Service: "d/good:", ClusterIP: "10.43.0.2", Port: 80, Endpoints: []Endpoint{{IP: "10.88.1.1", Port: 80}}}
		got, err := n.restore([]ServicePort{tc.port, good}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
		if !strings.Contains(string(got), "10.43.0.2/32") || strings.Contains(string(got), "d/bad:") {
			t.Errorf("%s: the good port is not written alone:\n%s", tc.name, got)
		}
	}
}

func TestServiceRulesClear(t *testing.T) {
	n, _ := newServiceRules("br9", "", "")
	mine := "SHOAL-E" + n.dyn + "-0123456789abcdef"
	got := string(n.clearRestore([]string{"SHOAL-SERVICES-br9", mine, "SHOAL-E0000-0123456789abcdef"}))
	want := "*nat\n:SHOAL-SERVICES-br9 - [0:0]\n:SHOAL-NODEPORTS-br9 - [0:0]\n:" + mine + " - [0:0]\n-X " + mine + "\nCOMMIT\n"
	if got != want {
		t.Errorf("clear:\n%s\nwant:\n%s", got, want)
	}
	if len(mine) != maxChainLen || !n.ownsChain(mine) || n.ownsChain("SHOAL-SERVICES-br9") {
		t.Errorf("chain naming: %s", mine)
	}
}
