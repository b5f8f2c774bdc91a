package runtime_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"shoal/internal/testenv"
	"shoal/runtime"
)

// Two nodes as in TestPodsOnTwoNodesTalkWithoutNAT, with node 1 publishing
// node port 30080: a connection from node 2 to node 1's address reaches a
// pod behind it, on either node, from node 1's pod gateway address (so
// the reply comes back through node 1), through FORWARD chains that drop
// by policy; node 1 reaches its own node port too, but not on 127.0.0.1;
// an empty sync withdraws the port and clearing removes the chains.
func TestNodePortsPublishOnTheNode(t *testing.T) {
	testenv.RequireRoot(t)
	for _, b := range []string{"ip", "iptables", "iptables-restore"} {
		testenv.RequireBinary(t, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("shoalnp%d", os.Getpid())
	nodeNS := []string{prefix + "-n1", prefix + "-n2"}
	podNS := []string{prefix + "-p1", prefix + "-p2"}
	for _, ns := range append(append([]string{}, nodeNS...), podNS...) {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "-n", nodeNS[0], "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", nodeNS[1])
	hosts := make([]*runtime.HostNet, 2)
	for i := range 2 {
		n, p := nodeNS[i], podNS[i]
		ipCmd(t, "-n", n, "addr", "add", fmt.Sprintf("192.168.252.%d/24", i+1), "dev", "eth0")
		ipCmd(t, "-n", n, "link", "set", "eth0", "up")
		ipCmd(t, "-n", n, "link", "add", "br0", "type", "bridge")
		ipCmd(t, "-n", n, "addr", "add", fmt.Sprintf("10.88.%d.1/24", i+1), "dev", "br0")
		ipCmd(t, "-n", n, "link", "set", "br0", "up")
		ipCmd(t, "-n", n, "link", "add", "veth0", "type", "veth", "peer", "name", "eth0", "netns", p)
		ipCmd(t, "-n", n, "link", "set", "veth0", "master", "br0", "up")
		ipCmd(t, "-n", p, "addr", "add", fmt.Sprintf("10.88.%d.2/24", i+1), "dev", "eth0")
		ipCmd(t, "-n", p, "link", "set", "eth0", "up")
		ipCmd(t, "-n", p, "route", "add", "default", "via", fmt.Sprintf("10.88.%d.1", i+1))
		ipCmd(t, "netns", "exec", n, "iptables", "-w", "5", "-P", "FORWARD", "DROP")
		h, err := runtime.NewHostNet(inNetnsRun(n), func(k, v string) error {
			return inNetns(n, func() error { return runtime.WriteSysctl(k, v) })
		}, "br0", fmt.Sprintf("10.88.%d.0/24", i+1), "10.88.0.0/16")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.EnsureNAT(ctx); err != nil {
			t.Fatal(err)
		}
		other := 1 - i
		if err := h.SyncRoutes(ctx, []runtime.Route{{CIDR: fmt.Sprintf("10.88.%d.0/24", other+1), Via: fmt.Sprintf("192.168.252.%d", other+1)}}); err != nil {
			t.Fatal(err)
		}
		hosts[i] = h
	}
	publish := func(eps ...runtime.Endpoint) {
		t.Helper()
		// Twice: a sync is idempotent.
		for range 2 {
			if err := hosts[0].SyncNodePorts(ctx, "br0", []runtime.NodePort{{Protocol: "TCP", Port: 30080, Service: "default/web:", Endpoints: eps}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	publish(runtime.Endpoint{IP: "10.88.2.2", Port: 8080})
	for _, c := range [][]string{{"-t", "nat", "-S", "PREROUTING"}, {"-t", "nat", "-S", "OUTPUT"}, {"-t", "nat", "-S", "POSTROUTING"}, {"-t", "filter", "-S", "FORWARD"}} {
		out := ipOut(t, append([]string{"netns", "exec", nodeNS[0], "iptables", "-w", "5"}, c...)...)
		if got := strings.Count(out, "-j SHOAL-N"); got != 1 {
			t.Errorf("iptables %v: %d jumps to our node port chains:\n%s", c, got, out)
		}
	}
	// The pod on the other node, from that node, and from node 1 itself.
	if got := viaNodePort(t, podNS[1], "10.88.2.2:8080", nodeNS[1], "192.168.252.1:30080"); got != "10.88.1.1" {
		t.Errorf("pod 2 saw the client as %s, want node 1's pod gateway 10.88.1.1", got)
	}
	if got := viaNodePort(t, podNS[1], "10.88.2.2:8080", nodeNS[0], "192.168.252.1:30080"); got == "" {
		t.Error("node 1 did not reach its own node port")
	}
	// The pod on node 1 itself.
	publish(runtime.Endpoint{IP: "10.88.1.2", Port: 8080})
	if got := viaNodePort(t, podNS[0], "10.88.1.2:8080", nodeNS[1], "192.168.252.1:30080"); got != "10.88.1.1" {
		t.Errorf("pod 1 saw the client as %s, want node 1's pod gateway 10.88.1.1", got)
	}
	if c, err := dialFrom(nodeNS[0], "127.0.0.1:30080"); err == nil {
		c.Close()
		t.Error("the node port answers on 127.0.0.1")
	}
	publish()
	if c, err := dialFrom(nodeNS[1], "192.168.252.1:30080"); err == nil {
		c.Close()
		t.Error("the node port still answers without endpoints")
	}
	for range 2 {
		if err := hosts[0].ClearNodePorts(ctx, "br0"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tbl := range []string{"nat", "filter"} {
		if out := ipOut(t, "netns", "exec", nodeNS[0], "iptables", "-w", "5", "-t", tbl, "-S"); strings.Contains(out, "SHOAL-N") {
			t.Errorf("%s rules after ClearNodePorts:\n%s", tbl, out)
		}
	}
}

// viaNodePort serves on listen in namespace lns, connects from namespace
// dns to addr and returns the source address the server saw ("" when the
// connection failed).
func viaNodePort(t *testing.T, lns, listen, dns, addr string) string {
	t.Helper()
	var ln net.Listener
	if err := inNetns(lns, func() error {
		var err error
		ln, err = net.Listen("tcp", listen)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- ""
			return
		}
		defer c.Close()
		h, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		got <- h
	}()
	c, err := dialFrom(dns, addr)
	if err != nil {
		t.Errorf("connect from %s to %s: %v", dns, addr, err)
		return ""
	}
	defer c.Close()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Errorf("no connection accepted on %s", listen)
		return ""
	}
}
