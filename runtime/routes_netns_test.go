package runtime_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"shoal/internal/testenv"
	"shoal/runtime"
)

// Two nodes, each a network namespace with a pod bridge and one pod
// namespace behind it, on one link (192.168.251.0/24, only inside these
// namespaces). With each node's routes and NAT rules installed by the
// runtime's code (aimed at the node's namespace), pod 1 connects to pod 2
// by IP and pod 2 sees pod 1's IP, while pod 1's traffic to a non-pod
// address is masqueraded. Both nodes drop forwarded traffic by policy, as
// Docker leaves hosts, so the FORWARD rules are exercised too.
func TestPodsOnTwoNodesTalkWithoutNAT(t *testing.T) {
	testenv.RequireRoot(t)
	for _, b := range []string{"ip", "iptables", "iptables-restore"} {
		testenv.RequireBinary(t, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("shoalrt%d", os.Getpid())
	nodeNS := []string{prefix + "-n1", prefix + "-n2"}
	podNS := []string{prefix + "-p1", prefix + "-p2"}
	for _, ns := range append(append([]string{}, nodeNS...), podNS...) {
		_ = exec.Command("ip", "netns", "del", ns).Run() // a crashed earlier run
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("delete netns %s: %v: %s", ns, err, out)
			}
		})
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "-n", nodeNS[0], "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", nodeNS[1])
	hosts := make([]*runtime.HostNet, 2)
	for i := range 2 {
		n, p := nodeNS[i], podNS[i]
		ipCmd(t, "-n", n, "addr", "add", fmt.Sprintf("192.168.251.%d/24", i+1), "dev", "eth0")
		ipCmd(t, "-n", n, "link", "set", "eth0", "up")
		// The pod side, as the CNI bridge plugin builds it.
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
		hosts[i] = h
	}
	// Somebody else's route: Shoal must leave it alone.
	ipCmd(t, "-n", nodeNS[0], "route", "add", "192.0.2.0/24", "via", "192.168.251.2", "proto", "static")

	// A server in pod 2, to tell "no route" from "nobody listening".
	var srv net.Listener
	if err := inNetns(podNS[1], func() error {
		var err error
		srv, err = net.Listen("tcp", "10.88.2.2:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	reachable := func() bool {
		c, err := dialFrom(podNS[0], srv.Addr().String())
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	if reachable() {
		t.Fatal("pod 2 reachable before any route")
	}
	// Twice each: both calls are idempotent.
	for range 2 {
		for i, h := range hosts {
			if err := h.EnsureNAT(ctx); err != nil {
				t.Fatal(err)
			}
			other := 1 - i
			if err := h.SyncRoutes(ctx, []runtime.Route{{CIDR: fmt.Sprintf("10.88.%d.0/24", other+1), Via: fmt.Sprintf("192.168.251.%d", other+1)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range nodeNS {
		for _, c := range [][]string{{"-t", "nat", "-S", "POSTROUTING"}, {"-t", "filter", "-S", "FORWARD"}} {
			out := ipOut(t, append([]string{"netns", "exec", n, "iptables", "-w", "5"}, c...)...)
			if got := strings.Count(out, "-j SHOAL-"); got != 1 {
				t.Errorf("%s iptables %v: %d jumps to our chain:\n%s", n, c, got, out)
			}
		}
	}
	routes := ipOut(t, "-n", nodeNS[0], "route", "show")
	if !strings.Contains(routes, "10.88.2.0/24 via 192.168.251.2 dev eth0 proto 83") {
		t.Errorf("node 1 routes:\n%s", routes)
	}

	if !reachable() {
		t.Fatal("pod 2 unreachable with routes")
	}
	// Pod to pod across nodes: the far end sees the pod's own IP.
	if got := acceptFrom(t, podNS[1], "10.88.2.2", podNS[0]); got != "10.88.1.2" {
		t.Errorf("pod 2 saw pod 1 as %s, want 10.88.1.2 (not masqueraded)", got)
	}
	// Pod to outside the cluster CIDR (node 2's own address): masqueraded.
	if got := acceptFrom(t, nodeNS[1], "192.168.251.2", podNS[0]); got != "192.168.251.1" {
		t.Errorf("node 2 saw pod 1 as %s, want node 1's 192.168.251.1 (masqueraded)", got)
	}

	// Clearing removes ours only, and pod 2 is unreachable again.
	for _, h := range hosts {
		if err := h.ClearRoutes(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.ClearNAT(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.ClearNAT(ctx); err != nil {
			t.Fatalf("second ClearNAT: %v", err)
		}
	}
	routes = ipOut(t, "-n", nodeNS[0], "route", "show")
	if strings.Contains(routes, "10.88.2.0/24") || !strings.Contains(routes, "192.0.2.0/24 via 192.168.251.2") {
		t.Errorf("node 1 routes after ClearRoutes:\n%s", routes)
	}
	for _, tbl := range []string{"nat", "filter"} {
		if out := ipOut(t, "netns", "exec", nodeNS[0], "iptables", "-w", "5", "-t", tbl, "-S"); strings.Contains(out, "SHOAL-") {
			t.Errorf("%s rules after ClearNAT:\n%s", tbl, out)
		}
	}
	if reachable() {
		t.Error("pod 2 reachable after ClearRoutes")
	}
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	ipOut(t, args...)
}

func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetnsRun runs commands inside network namespace ns.
func inNetnsRun(ns string) func(context.Context, []byte, string, ...string) ([]byte, error) {
	return func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
		return runtime.RunCommand(ctx, stdin, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	}
}

// inNetns runs fn on an OS thread switched into network namespace ns:
// sockets it opens and /proc/sys/net it writes are that namespace's. The
// thread is thrown away if it cannot be switched back.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leave netns %s: %w", ns, err) // thread stays locked and dies
			return
		}
		goruntime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func dialFrom(ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	return c, err
}

// acceptFrom listens on ip in namespace lns, connects from namespace dns,
// and returns the source IP the listener saw.
func acceptFrom(t *testing.T, lns, ip, dns string) string {
	t.Helper()
	var ln net.Listener
	if err := inNetns(lns, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(ip, "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		h, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		got <- h
	}()
	c, err := dialFrom(dns, ln.Addr().String())
	if err != nil {
		t.Fatalf("connect from %s to %s: %v", dns, ln.Addr(), err)
	}
	defer c.Close()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return ""
	}
}
