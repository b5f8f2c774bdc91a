package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	gocni "github.com/containerd/go-cni"

	"shoal/cluster"
)

// network is the node's pod network: one CNI bridge with host-local IPAM on
// the node's pod CIDR, port mapping for hostPorts; with a cluster CIDR, our
// own NAT rules instead of the bridge plugin's (see natRules).
type network struct {
	// cni has every plugin: it tears every pod down, and sets up pods
	// while the node's own forwarding rules are not in place.
	cni gocni.CNI
	// lean, once they are, sets up pods without the plugins that would
	// only repeat them (see leanPlugins); nil when there are none.
	lean   map[leanKey]gocni.CNI
	conf   []byte
	bridge string
	// podNet is the node's pod subnet; a requested IP outside it is not
	// asked for.
	podNet *net.IPNet
	host   *hostNet
	// nat is nil without a cluster CIDR: then the bridge plugin
	// masquerades everything leaving the pod subnet, as it always did.
	nat *natRules
	// natMu guards natDone: the rules are installed before the first pod
	// is set up, and again after a failure.
	natMu   sync.Mutex
	natDone bool
	log     *slog.Logger
}

// newNetwork generates the conflist rather than reading /etc/cni/net.d:
// the node's subnet comes from the cluster state, and agents sharing a host
// in tests must not see each other's configs.
func newNetwork(cfg Config) (*network, error) {
	if cfg.CNI.PodCIDR == "" {
		return nil, fmt.Errorf("CNI.PodCIDR is required")
	}
	_, podNet, err := net.ParseCIDR(cfg.CNI.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("CNI.PodCIDR: %w", err)
	}
	var nat *natRules
	if cfg.CNI.ClusterCIDR != "" {
		n, err := newNATRules(cfg.CNI.BridgeName, cfg.CNI.PodCIDR, cfg.CNI.ClusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("CNI.ClusterCIDR: %w", err)
		}
		nat = &n
	}
	plugins := []map[string]any{
		{
			"type":      "bridge",
			"bridge":    cfg.CNI.BridgeName,
			"isGateway": true,
			// The bridge plugin's ipMasq masquerades all traffic leaving
			// the pod subnet, pod-to-pod across nodes included, so the
			// other pod would see our node's IP; with a cluster CIDR our
			// own rule masquerades only traffic leaving the cluster.
			"ipMasq":      nat == nil,
			"hairpinMode": true,
			// ips lets a sandbox set up again after a reboot ask
			// host-local for the IP the pod had (see setup).
			"capabilities": map[string]bool{"ips": true},
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": cfg.CNI.PodCIDR}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": filepath.Join(cfg.DataDir, "cni", "ipam"),
			},
		},
		{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
	}
	// firewall opens the FORWARD chain for pod traffic on hosts whose
	// policy drops it; it is optional because not every install ships it.
	if pluginExists(cfg.CNI.BinDirs, "firewall") {
		plugins = append(plugins, map[string]any{"type": "firewall", "backend": "iptables"})
	}
	conf, c, err := newCNI(cfg, plugins)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &network{cni: c, conf: conf, bridge: cfg.CNI.BridgeName, podNet: podNet, host: newHostNet(), nat: nat, log: log}
	if nat != nil {
		if n.lean, err = leanCNIs(cfg, plugins); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// leanKey picks a lean plugin list: whether the pod publishes host
// ports (portmap is needed).
type leanKey struct{ ports bool }

// leanCNIs are the plugin lists for pods set up while the node's own
// rules (natRules) are in place: without the firewall plugin, whose
// per-pod FORWARD rules ours hold for the whole pod subnet, and without
// portmap for a pod with no host ports. Each plugin left out is a process
// and, for the firewall, a handful of iptables runs less per pod: most of
// what setting up a pod's network costs.
func leanCNIs(cfg Config, plugins []map[string]any) (map[leanKey]gocni.CNI, error) {
	out := map[leanKey]gocni.CNI{}
	for _, k := range []leanKey{{ports: false}, {ports: true}} {
		_, c, err := newCNI(cfg, leanPlugins(plugins, k))
		if err != nil {
			return nil, err
		}
		out[k] = c
	}
	return out, nil
}

// leanPlugins is plugins without those k's pods do without.
func leanPlugins(plugins []map[string]any, k leanKey) []map[string]any {
	var keep []map[string]any
	for _, p := range plugins {
		switch p["type"] {
		case "firewall":
			continue
		case "portmap":
			if !k.ports {
				continue
			}
		}
		keep = append(keep, p)
	}
	return keep
}

// newCNI returns the conflist of plugins and a CNI that runs it (eth0),
// with a loopback network for lo.
func newCNI(cfg Config, plugins []map[string]any) ([]byte, gocni.CNI, error) {
	conf, err := json.Marshal(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "shoal-" + cfg.CNI.BridgeName,
		"plugins":    plugins,
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := gocni.New(
		gocni.WithPluginDir(cfg.CNI.BinDirs),
		gocni.WithInterfacePrefix("eth"),
		gocni.WithConfListBytes(conf), // eth0
		gocni.WithLoNetwork,
	)
	if err != nil {
		return nil, nil, fmt.Errorf("CNI config: %w", err)
	}
	return conf, c, nil
}

// ensureNAT installs the NAT and forwarding rules once (again after a
// failure); without a cluster CIDR there are none.
func (n *network) ensureNAT(ctx context.Context) error {
	if n.nat == nil {
		return nil
	}
	n.natMu.Lock()
	defer n.natMu.Unlock()
	if n.natDone {
		return nil
	}
	if err := n.host.ensureNAT(ctx, *n.nat); err != nil {
		return err
	}
	n.natDone = true
	return nil
}

// clearNAT removes the rules; the next ensureNAT installs them again.
func (n *network) clearNAT(ctx context.Context) error {
	if n.nat == nil {
		return nil
	}
	n.natMu.Lock()
	defer n.natMu.Unlock()
	n.natDone = false
	return n.host.clearNAT(ctx, *n.nat)
}

func pluginExists(dirs []string, name string) bool {
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return true
		}
	}
	return false
}

// cniID is the CNI container ID of a pod: host-local and portmap key
// their state by it.
func cniID(uid string) string { return "shoal-" + uid }

// setup attaches the pod's namespace to the bridge and returns its IP.
// With want, host-local is asked for that IP (the one the pod had before
// its namespace was lost): the cluster state, DNS and endpoints still name
// it, so the pod must answer there again. host-local refuses an IP that
// another pod holds meanwhile; the caller then asks for any.
func (n *network) setup(ctx context.Context, uid, nsPath string, ports []gocni.PortMapping, want string) (string, error) {
	// Without the masquerade rule a pod cannot reach addresses outside the
	// cluster; it still reaches every pod, so it starts, and the rules are
	// tried again at the next pod start (a kernel without the MASQUERADE
	// target, as some micro-VMs have, never gets them).
	c := n.cni
	if err := n.ensureNAT(ctx); err != nil {
		n.log.Error("pod NAT rules not installed: pods on this node reach only the cluster network", "err", err)
	} else if n.lean != nil {
		c = n.lean[leanKey{ports: len(ports) > 0}]
	}
	opts := n.opts(ports)
	if ip := net.ParseIP(want); ip != nil && n.podNet.Contains(ip) {
		ones, _ := n.podNet.Mask.Size()
		opts = append(opts, gocni.WithCapability("ips", []string{fmt.Sprintf("%s/%d", ip, ones)}))
	}
	res, err := c.Setup(ctx, cniID(uid), nsPath, opts...)
	if err != nil {
		return "", fmt.Errorf("CNI setup: %w", err)
	}
	if iface, ok := res.Interfaces["eth0"]; ok {
		for _, ipc := range iface.IPConfigs {
			if ip4 := ipc.IP.To4(); ip4 != nil {
				return ip4.String(), nil
			}
		}
		if len(iface.IPConfigs) > 0 {
			return iface.IPConfigs[0].IP.String(), nil
		}
	}
	return "", fmt.Errorf("CNI setup: no IP for eth0 in result")
}

// teardown releases the pod's IP and port mappings. A missing namespace
// is fine: CNI DEL must still release IPAM and iptables state.
func (n *network) teardown(ctx context.Context, uid, nsPath string, ports []gocni.PortMapping) error {
	if err := n.cni.Remove(ctx, cniID(uid), nsPath, n.opts(ports)...); err != nil {
		return fmt.Errorf("CNI teardown: %w", err)
	}
	return nil
}

func (n *network) opts(ports []gocni.PortMapping) []gocni.NamespaceOpts {
	opts := []gocni.NamespaceOpts{}
	if len(ports) > 0 {
		opts = append(opts, gocni.WithCapabilityPortMap(ports))
	}
	return opts
}

// hostPorts lists the pod's published ports, for portmap.
func hostPorts(pod *cluster.Pod) []gocni.PortMapping {
	var out []gocni.PortMapping
	all := append(append([]cluster.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := strings.ToLower(p.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, gocni.PortMapping{
				HostPort:      p.HostPort,
				ContainerPort: p.ContainerPort,
				Protocol:      proto,
				HostIP:        p.HostIP,
			})
		}
	}
	return out
}
