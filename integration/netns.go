package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// Network namespaces for agents that each need their own address on one
// machine (the cluster issue): a Linux bridge named by the test, and per
// agent a namespace joined to it by a veth pair. Everything is created by
// name with `ip` and removed at the end of the test. Names are short
// because Linux limits interface names to 15 bytes.

// ip runs `ip args...` and fails the test with its output on error.
func ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// ipQuiet runs `ip args...` for cleanups, ignoring errors (the thing may
// already be gone).
func ipQuiet(args ...string) { _ = exec.Command("ip", args...).Run() }

// CreateBridge creates bridge name with address cidr on the host (e.g.
// "10.77.0.1/24": the host's side of the test network and the agents'
// gateway), up, removed at the end of the test.
func CreateBridge(t testing.TB, name, cidr string) {
	t.Helper()
	RequireRoot(t)
	ipQuiet("link", "del", name)
	ip(t, "link", "add", name, "type", "bridge")
	t.Cleanup(func() { ipQuiet("link", "del", name) })
	ip(t, "addr", "add", cidr, "dev", name)
	ip(t, "link", "set", name, "up")
	// With br_netfilter loaded, frames between the bridge's ports go
	// through the host's FORWARD chain, whose policy may be DROP (Docker
	// sets it): accept this bridge's traffic, by a rule removed by its
	// exact spec at the end.
	rule := []string{"FORWARD", "-i", name, "-o", name, "-j", "ACCEPT", "-m", "comment", "--comment", "shoal test bridge " + name}
	if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Logf("iptables -I %s: %v: %s (traffic between namespaces relies on the FORWARD policy)", strings.Join(rule, " "), err, out)
	} else {
		t.Cleanup(func() { _ = exec.Command("iptables", append([]string{"-D"}, rule...)...).Run() })
	}
}

// netnsPath is where `ip netns add` mounts a named namespace.
func netnsPath(name string) string { return "/run/netns/" + name }

// FreeSubnet returns the first three octets of a /24 under prefix (e.g.
// "172.31") that no address or route on the host uses, starting at a
// point spread by PID so that parallel test binaries rarely collide.
func FreeSubnet(t testing.TB, prefix string) string {
	t.Helper()
	routes, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	addrs, err := exec.Command("ip", "-4", "-o", "addr").Output()
	if err != nil {
		t.Fatalf("ip addr: %v", err)
	}
	used := string(routes) + string(addrs)
	start := (os.Getpid()*7 + int(netSeq.Add(1))*31) % 254
	for i := range 254 {
		third := 1 + (start+i)%254
		p := fmt.Sprintf("%s.%d", prefix, third)
		if !strings.Contains(used, p+".") {
			return p
		}
	}
	t.Fatalf("no free /24 under %s.0.0/16", prefix)
	return ""
}

var netSeq atomic.Int64

// NetNS is one network namespace attached to a bridge.
type NetNS struct {
	Name string
	// Addr is its address (without prefix length); HostVeth the veth end
	// on the host, attached to the bridge.
	Addr     string
	HostVeth string
}

// CreateNetNS creates namespace name with a veth pair whose host end joins
// bridge and whose inner end (eth0) has addrCIDR, a default route via
// gateway, and loopback up. It is removed at the end of the test.
func CreateNetNS(t testing.TB, name, bridge, addrCIDR, gateway string) *NetNS {
	t.Helper()
	RequireRoot(t)
	n := &NetNS{Name: name, Addr: strings.SplitN(addrCIDR, "/", 2)[0], HostVeth: vethName(name)}
	DeleteNetNS(name)
	ip(t, "netns", "add", name)
	t.Cleanup(func() { DeleteNetNS(name) })
	ip(t, "link", "add", n.HostVeth, "type", "veth", "peer", "name", "eth0", "netns", name)
	ip(t, "link", "set", n.HostVeth, "master", bridge)
	ip(t, "link", "set", n.HostVeth, "up")
	ip(t, "-n", name, "link", "set", "lo", "up")
	ip(t, "-n", name, "addr", "add", addrCIDR, "dev", "eth0")
	ip(t, "-n", name, "link", "set", "eth0", "up")
	if gateway != "" {
		ip(t, "-n", name, "route", "add", "default", "via", gateway)
	}
	return n
}

// DeleteNetNS removes namespace name and its host veth (removing either
// end of a veth removes both).
func DeleteNetNS(name string) {
	ipQuiet("link", "del", vethName(name))
	ipQuiet("netns", "del", name)
}

// CutLink takes the namespace's link down: the agent in it is cut off
// from the others, as by a pulled cable, while its processes run on.
func (n *NetNS) CutLink(t testing.TB) {
	t.Helper()
	ip(t, "link", "set", n.HostVeth, "down")
}

// RestoreLink brings the link back up.
func (n *NetNS) RestoreLink(t testing.TB) {
	t.Helper()
	ip(t, "link", "set", n.HostVeth, "up")
}

// vethName is the host end's name for a namespace: "v" plus the
// namespace's name, cut to the 15-byte limit.
func vethName(ns string) string {
	name := "v" + ns
	if len(name) > 15 {
		name = name[:15]
	}
	return name
}

// Exec runs a command inside the namespace (e.g. to reach a pod from a
// node) and returns its combined output.
func (n *NetNS) Exec(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip netns exec %s %s: %w: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
