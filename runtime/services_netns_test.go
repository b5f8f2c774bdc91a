package runtime_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
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
			if err := hosts[0].SyncServices(ctx, "br0", []runtime.ServicePort{{Protocol: "TCP", NodePort: 30080, Service: "default/web:", Endpoints: eps}}); err != nil {
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
		if err := hosts[0].ClearServices(ctx, "br0"); err != nil {
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

// Two nodes with host-gw routes, pods p1 and p3 on node 1 and p2 on node
// 2, each answering its name and the client address it saw: connections
// to a cluster IP from a pod (same node, same bridge, other node), from a
// pod to itself (hairpin) and from node 1 itself reach every endpoint and
// only them; ClientIP affinity sticks; a port without endpoints refuses;
// clearing removes every chain. Logs connection setup times through the
// cluster IP and straight to the pod.
func TestClusterIPsBalanceOnTheNode(t *testing.T) {
	testenv.RequireRoot(t)
	for _, b := range []string{"ip", "iptables", "iptables-restore"} {
		testenv.RequireBinary(t, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("shoalci%d", os.Getpid())
	nodeNS := []string{prefix + "-n1", prefix + "-n2"}
	pods := []struct {
		ns, ip string
		node   int
	}{{prefix + "-p1", "10.88.1.2", 0}, {prefix + "-p2", "10.88.2.2", 1}, {prefix + "-p3", "10.88.1.3", 0}}
	for _, ns := range nodeNS {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "-n", nodeNS[0], "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", nodeNS[1])
	hosts := make([]*runtime.HostNet, 2)
	for i, n := range nodeNS {
		ipCmd(t, "-n", n, "addr", "add", fmt.Sprintf("192.168.252.%d/24", i+1), "dev", "eth0")
		ipCmd(t, "-n", n, "link", "set", "eth0", "up")
		ipCmd(t, "-n", n, "link", "add", "br0", "type", "bridge")
		ipCmd(t, "-n", n, "addr", "add", fmt.Sprintf("10.88.%d.1/24", i+1), "dev", "br0")
		ipCmd(t, "-n", n, "link", "set", "br0", "up")
		// A node without a default route needs one for the service CIDR
		// (see the README); its own connections then leave from the
		// bridge's address.
		ipCmd(t, "-n", n, "route", "add", "10.43.0.0/16", "dev", "br0")
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
		// As the CNI firewall plugin does on the first pod: a rule of its
		// own at the top of FORWARD, accepting the pods' traffic, which
		// must not get ahead of the refusal of a port without endpoints.
		ipCmd(t, "netns", "exec", n, "iptables", "-w", "5", "-I", "FORWARD", "1", "-s", fmt.Sprintf("10.88.%d.0/24", i+1), "-j", "ACCEPT")
		other := 1 - i
		if err := h.SyncRoutes(ctx, []runtime.Route{{CIDR: fmt.Sprintf("10.88.%d.0/24", other+1), Via: fmt.Sprintf("192.168.252.%d", other+1)}}); err != nil {
			t.Fatal(err)
		}
		hosts[i] = h
	}
	for i, p := range pods {
		_ = exec.Command("ip", "netns", "del", p.ns).Run()
		ipCmd(t, "netns", "add", p.ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", p.ns).Run() })
		n := nodeNS[p.node]
		veth := fmt.Sprintf("veth%d", i)
		ipCmd(t, "-n", n, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", p.ns)
		ipCmd(t, "-n", n, "link", "set", veth, "master", "br0", "up")
		// As the CNI bridge plugin's hairpinMode sets it: a pod reaching
		// itself through a cluster IP gets its packets back on its port.
		ipCmd(t, "-n", n, "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
		ipCmd(t, "-n", p.ns, "link", "set", "lo", "up")
		ipCmd(t, "-n", p.ns, "addr", "add", p.ip+"/24", "dev", "eth0")
		ipCmd(t, "-n", p.ns, "link", "set", "eth0", "up")
		ipCmd(t, "-n", p.ns, "route", "add", "default", "via", fmt.Sprintf("10.88.%d.1", p.node+1))
		serveName(t, p.ns, p.ip+":8080", p.ns)
	}
	ep := func(i int) runtime.Endpoint {
		return runtime.Endpoint{IP: pods[i].ip, Port: 8080, Local: pods[i].node == 0}
	}
	serve := func(affinity int32, eps ...runtime.Endpoint) {
		t.Helper()
		for range 2 { // a sync is idempotent
			if err := hosts[0].SyncServices(ctx, "br0", []runtime.ServicePort{
				{Service: "default/web:", Protocol: "TCP", ClusterIP: "10.43.0.10", Port: 80, Endpoints: eps, AffinitySeconds: affinity},
				{Service: "default/idle:", Protocol: "TCP", ClusterIP: "10.43.0.11", Port: 80},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	serve(0, ep(0), ep(1), ep(2))
	t.Cleanup(func() {
		if t.Failed() {
			for _, tbl := range []string{"nat", "filter"} {
				out, _ := exec.Command("ip", "netns", "exec", nodeNS[0], "iptables", "-w", "5", "-t", tbl, "-L", "-v", "-n").CombinedOutput()
				t.Logf("node 1 %s:\n%s", tbl, out)
			}
		}
	})
	// From pod 1: every endpoint, itself included (with the pod gateway
	// as source), the others with pod 1's own address.
	seen := map[string]int{}
	for range 60 {
		name, src := askName(t, pods[0].ns, "10.43.0.10:80")
		seen[name]++
		if want := map[bool]string{true: "10.88.1.1", false: "10.88.1.2"}[name == pods[0].ns]; src != want {
			t.Fatalf("%s saw pod 1 as %s, want %s", name, src, want)
		}
	}
	if len(seen) != 3 {
		t.Errorf("60 connections from pod 1 reached %v, want all 3 pods", seen)
	}
	// From node 1 itself, through OUTPUT.
	clear(seen)
	for range 30 {
		name, _ := askName(t, nodeNS[0], "10.43.0.10:80")
		seen[name]++
	}
	if len(seen) != 3 {
		t.Errorf("30 connections from node 1 reached %v, want all 3 pods", seen)
	}
	// Only the endpoints listed: pod 2 alone.
	serve(0, ep(1))
	for range 10 {
		if name, _ := askName(t, pods[2].ns, "10.43.0.10:80"); name != pods[1].ns {
			t.Fatalf("with pod 2 alone, reached %s", name)
		}
	}
	// ClientIP affinity: one client sticks to one pod.
	serve(10800, ep(0), ep(1), ep(2))
	clear(seen)
	for range 20 {
		name, _ := askName(t, pods[2].ns, "10.43.0.10:80")
		seen[name]++
	}
	if len(seen) != 1 {
		t.Errorf("with affinity, one client reached %v", seen)
	}
	if c, err := dialFrom(pods[0].ns, "10.43.0.11:80"); err == nil {
		c.Close()
		t.Error("a cluster IP without endpoints accepted a connection")
	} else if !strings.Contains(err.Error(), "refused") {
		t.Errorf("a cluster IP without endpoints: %v, want connection refused", err)
	}
	// externalTrafficPolicy Local: node 1's node port goes to its own
	// pods only, and they see the client's address.
	if err := hosts[0].SyncServices(ctx, "br0", []runtime.ServicePort{{Service: "default/local:", Protocol: "TCP", NodePort: 30081, NodeLocal: true,
		Endpoints: []runtime.Endpoint{ep(0), ep(1)}}}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if name, src := askName(t, nodeNS[1], "192.168.252.1:30081"); name != pods[0].ns || src != "192.168.252.2" {
			t.Fatalf("Local node port reached %s from %s, want %s from the client 192.168.252.2", name, src, pods[0].ns)
		}
	}
	serve(0, ep(1))
	times := dialTimes(t, pods[0].ns, 1000, "10.43.0.10:80", pods[1].ip+":8080")
	via, direct := times[0], times[1]
	t.Logf("connection setup from pod 1 to pod 2 on the other node, 1000 each, interleaved: through the cluster IP median %v p99 %v; straight to the pod median %v p99 %v",
		via[len(via)/2], via[len(via)*99/100], direct[len(direct)/2], direct[len(direct)*99/100])
	for range 2 {
		if err := hosts[0].ClearServices(ctx, "br0"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tbl := range []string{"nat", "filter"} {
		if out := ipOut(t, "netns", "exec", nodeNS[0], "iptables", "-w", "5", "-t", tbl, "-S"); strings.Contains(out, "SHOAL-S") ||
			strings.Contains(out, "SHOAL-N") || strings.Contains(out, "SHOAL-E") {
			t.Errorf("%s rules after ClearServices:\n%s", tbl, out)
		}
	}
}

// serveName answers every connection on listen in namespace ns with
// "name client-ip\n" until the test ends.
func serveName(t *testing.T, ns, listen, name string) {
	t.Helper()
	var ln net.Listener
	if err := inNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", listen)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s\n", name, h)
			c.Close()
		}
	}()
}

// askName connects from namespace ns to addr and returns what serveName
// answered.
func askName(t *testing.T, ns, addr string) (name, src string) {
	t.Helper()
	c, err := dialFrom(ns, addr)
	if err != nil {
		t.Fatalf("connect from %s to %s: %v", ns, addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		t.Fatalf("answer %q from %s", b, addr)
	}
	return f[0], f[1]
}

// dialTimes connects n times from namespace ns to each of addrs in turn
// (interleaved, so that both see the same machine load) and returns each
// address's connection setup times, sorted.
func dialTimes(t *testing.T, ns string, n int, addrs ...string) [][]time.Duration {
	t.Helper()
	out := make([][]time.Duration, len(addrs))
	err := inNetns(ns, func() error {
		for range n {
			for i, addr := range addrs {
				start := time.Now()
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					return err
				}
				out[i] = append(out[i], time.Since(start))
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range out {
		slices.Sort(d)
	}
	return out
}
