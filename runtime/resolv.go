package runtime

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"shoal/cluster"
)

// The limits the kubelet holds a pod's resolv.conf to: glibc reads three
// nameservers, and Kubernetes allows 32 search paths of 2048 characters
// in all.
const (
	resolvMaxNameservers = 3
	resolvMaxSearches    = 32
	resolvMaxSearchChars = 2048
)

// hostResolvConfs are where the node's resolver settings are read, in
// order: /etc/resolv.conf, then systemd-resolved's list of its upstream
// servers for a host whose resolv.conf names only its local stub.
var hostResolvConfs = []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}

// resolver is what one resolv.conf says.
type resolver struct {
	nameservers, searches, options []string
}

// String writes the file as containerd's CRI does: search, nameservers,
// options.
func (c resolver) String() string {
	var b strings.Builder
	if len(c.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.searches, " "))
	}
	for _, s := range c.nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(c.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.options, " "))
	}
	return b.String()
}

// podResolver is the pod's resolv.conf, made as the kubelet makes it:
// the dnsPolicy gives the base (ClusterFirst: the agent's DNS server and
// the cluster's search domains; Default: the node's settings; None:
// nothing) and the pod's dnsConfig is appended to it, nameservers and
// searches without duplicates, options replacing those of the same name.
// host is the node's own settings, read only for the policies that need
// them.
func podResolver(spec *cluster.PodSpec, namespace string, cfg DNSConfig, host func() resolver) resolver {
	if namespace == "" {
		namespace = cluster.DefaultNamespace
	}
	var c resolver
	switch spec.DNSPolicy {
	case cluster.DNSNone:
	case cluster.DNSDefault:
		c = host()
	default: // ClusterFirst, ClusterFirstWithHostNet: pods never share the host's network
		d := cfg.Domain
		c.searches = append([]string{namespace + ".svc." + d, "svc." + d, d}, cfg.SearchDomains...)
		c.options = []string{"ndots:5"}
		if cfg.Nameserver != "" {
			c.nameservers = []string{cfg.Nameserver}
		} else {
			// No DNS server for pods: the kubelet, too, falls back to the
			// node's resolvers.
			c.nameservers = host().nameservers
		}
	}
	if dc := spec.DNSConfig; dc != nil {
		c.nameservers = appendNew(c.nameservers, dc.Nameservers...)
		c.searches = appendNew(c.searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			c.options = setOption(c.options, o.Name, opt)
		}
	}
	return c.fitLimits()
}

// appendNew appends the values of add that list does not hold yet.
func appendNew(list []string, add ...string) []string {
	out := slices.Clone(list)
	for _, a := range add {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// setOption replaces option name (written "name" or "name:value") in
// opts, or appends opt when opts lacks it.
func setOption(opts []string, name, opt string) []string {
	out := slices.Clone(opts)
	for i, o := range out {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			out[i] = opt
			return out
		}
	}
	return append(out, opt)
}

// fitLimits drops what is past the limits, as the kubelet does (it
// reports an event; validation at apply keeps a pod's own dnsConfig in
// them, so only a long base can overflow).
func (c resolver) fitLimits() resolver {
	if len(c.nameservers) > resolvMaxNameservers {
		c.nameservers = c.nameservers[:resolvMaxNameservers]
	}
	if len(c.searches) > resolvMaxSearches {
		c.searches = c.searches[:resolvMaxSearches]
	}
	for len(c.searches) > 0 && len(strings.Join(c.searches, " ")) > resolvMaxSearchChars {
		c.searches = c.searches[:len(c.searches)-1]
	}
	return c
}

// hostResolver reads the node's resolver settings: the first of paths
// with a nameserver a pod can reach (loopback ones, such as
// systemd-resolved's 127.0.0.53, mean nothing inside a pod), with its
// search domains and options.
func hostResolver(paths ...string) resolver {
	var first resolver
	for i, p := range paths {
		c, err := readResolvConf(p)
		if err != nil {
			continue
		}
		if len(c.nameservers) > 0 {
			return c
		}
		if i == 0 {
			first = c
		}
	}
	return first
}

// readResolvConf parses a resolv.conf, keeping nameservers a pod can
// reach.
func readResolvConf(path string) (resolver, error) {
	f, err := os.Open(path)
	if err != nil {
		return resolver{}, err
	}
	defer f.Close()
	var c resolver
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if ip := net.ParseIP(fields[1]); ip != nil && !ip.IsLoopback() {
				c.nameservers = append(c.nameservers, fields[1])
			}
		case "search", "domain":
			// The last of search and domain wins, as in glibc.
			c.searches = slices.Clone(fields[1:])
		case "options":
			c.options = append(c.options, fields[1:]...)
		}
	}
	return c, sc.Err()
}
