package cluster

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// KeepNodePorts gives the ports of svc that have no node port the one the
// same-named port of old had, as Kubernetes does on an update, unless
// another port of svc asks for that number already. A service that does
// not publish node ports keeps none.
func KeepNodePorts(svc, old *Service) {
	if !svc.PublishesNodePorts() {
		for i := range svc.Ports {
			svc.Ports[i].NodePort = 0
		}
		return
	}
	if old == nil || !old.PublishesNodePorts() {
		return
	}
	prev := map[string]int32{}
	for _, p := range old.Ports {
		prev[p.Name] = p.NodePort
	}
	for i := range svc.Ports {
		p := &svc.Ports[i]
		if p.NodePort != 0 || prev[p.Name] == 0 {
			continue
		}
		taken := slices.ContainsFunc(svc.Ports, func(q ServicePort) bool { return q.NodePort == prev[p.Name] })
		if !taken {
			p.NodePort = prev[p.Name]
		}
	}
}

// NodePortConflict checks svc's node ports against those of others (every
// service; svc's own old version is skipped by key) and returns an error
// naming the first port taken, or the first port used twice in svc for
// one protocol.
func NodePortConflict(svc *Service, others []*Service) error {
	used := usedNodePorts(svc, others)
	seen := map[string]int{}
	for i, p := range svc.Ports {
		if p.NodePort == 0 {
			continue
		}
		if by, ok := used[p.NodePort]; ok {
			return fmt.Errorf("spec.ports[%d].nodePort: %d is already used by service %s", i, p.NodePort, by)
		}
		k := fmt.Sprintf("%d/%s", p.NodePort, p.Protocol)
		if j, ok := seen[k]; ok {
			return fmt.Errorf("spec.ports[%d].nodePort: %d is also spec.ports[%d]'s for %s", i, p.NodePort, j, orTCP(p.Protocol))
		}
		seen[k] = i
	}
	return nil
}

// AllocateNodePorts gives every port of svc that publishes without a node
// port the lowest number of the range that no service uses, so every
// member of the cluster picks the same one.
func AllocateNodePorts(svc *Service, others []*Service) error {
	if !svc.PublishesNodePorts() {
		return nil
	}
	used := usedNodePorts(svc, others)
	for _, p := range svc.Ports {
		used[p.NodePort] = svc.Key()
	}
	next := int32(NodePortMin)
	for i := range svc.Ports {
		if svc.Ports[i].NodePort != 0 {
			continue
		}
		for ; next <= NodePortMax; next++ {
			if _, ok := used[next]; !ok {
				break
			}
		}
		if next > NodePortMax {
			return fmt.Errorf("spec.ports[%d].nodePort: no free node port left in %d-%d", i, NodePortMin, NodePortMax)
		}
		svc.Ports[i].NodePort = next
		used[next] = svc.Key()
	}
	return nil
}

// usedNodePorts maps the node ports of services other than svc to their
// service. A number is one service's whatever the protocol, as in
// Kubernetes.
func usedNodePorts(svc *Service, others []*Service) map[int32]string {
	used := map[int32]string{}
	for _, o := range others {
		if o.Key() == svc.Key() || !o.PublishesNodePorts() {
			continue
		}
		for _, p := range o.Ports {
			if p.NodePort != 0 {
				used[p.NodePort] = o.Key()
			}
		}
	}
	return used
}

func orTCP(proto string) string {
	if proto == "" {
		return "TCP"
	}
	return proto
}

// Endpoint is a ready pod behind a service port: where a connection to
// the port goes.
type Endpoint struct {
	IP   string
	Port int32
	// Node is where the pod runs.
	Node string
}

// ServiceEndpoints lists the ready pods behind each port of each service
// (running ones, ready or not, for a Service that publishes not-ready
// addresses), indexed like the services and their ports, each list sorted
// by IP. A pod that lacks a port named by targetPort is not behind that
// port.
func ServiceEndpoints(st *State, services []*Service) [][][]Endpoint {
	byNS := map[string][]*Pod{}
	for p := range st.Pods() {
		if !p.Terminating && p.Status.Phase == PodRunning && p.Status.PodIP != "" {
			byNS[p.Namespace] = append(byNS[p.Namespace], p)
		}
	}
	out := make([][][]Endpoint, len(services))
	for i, s := range services {
		out[i] = make([][]Endpoint, len(s.Ports))
		if len(s.Selector) == 0 {
			continue
		}
		for _, p := range byNS[s.Namespace] {
			if !MatchesSelector(s.Selector, p.Labels) || (!p.Ready() && !s.PublishNotReadyAddresses) {
				continue
			}
			for j, sp := range s.Ports {
				if port, ok := sp.TargetOn(p); ok {
					out[i][j] = append(out[i][j], Endpoint{IP: p.Status.PodIP, Port: port, Node: p.NodeName})
				}
			}
		}
		for j := range out[i] {
			slices.SortFunc(out[i][j], func(a, b Endpoint) int { return compareIP(a.IP, b.IP) })
		}
	}
	return out
}

// TargetOn is the port of pod p a connection to sp goes to: the target
// port's number, the container port its name names (of the same
// protocol), or sp's own port; ok is false when p has no port of that
// name.
func (sp ServicePort) TargetOn(p *Pod) (int32, bool) {
	switch {
	case sp.TargetPortName != "":
		for _, cs := range [][]Container{p.Spec.Containers, p.Spec.InitContainers} {
			for _, c := range cs {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPortName && orTCP(cp.Protocol) == orTCP(sp.Protocol) {
						return cp.ContainerPort, true
					}
				}
			}
		}
		return 0, false
	case sp.TargetPort != 0:
		return sp.TargetPort, true
	}
	return sp.Port, true
}

func compareIP(a, b string) int {
	pa, ea := netip.ParseAddr(a)
	pb, eb := netip.ParseAddr(b)
	if ea == nil && eb == nil {
		return pa.Compare(pb)
	}
	return strings.Compare(a, b)
}

// LoadBalancerIngress is what a LoadBalancer service's external addresses
// are: every ready node's, by node name.
func LoadBalancerIngress(nodes []*Node) []string {
	var out []string
	for _, n := range nodes {
		if n.Status == NodeReady && n.Address != "" {
			out = append(out, n.Address)
		}
	}
	return out
}
