package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
)

// ClusterIPNone marks a headless Service: no virtual IP, its names answer
// with its pods' addresses.
const ClusterIPNone = "None"

// DefaultSessionAffinityTimeout is how long, in seconds, a ClientIP
// session affinity keeps a client on one pod when the Service does not
// say (Kubernetes' default, three hours).
const DefaultSessionAffinityTimeout = 10800

// ServicePrefix parses a service CIDR: IPv4, with room for at least a few
// Services (/28 or larger, /12 at most, as Kubernetes bounds it).
func ServicePrefix(cidr string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return p, fmt.Errorf("service CIDR %q: %v", cidr, err)
	}
	if !p.Addr().Is4() || p.Bits() > 28 || p.Bits() < 12 {
		return p, fmt.Errorf("service CIDR %q: must be IPv4, between /12 and /28", cidr)
	}
	return p.Masked(), nil
}

// CheckServiceCIDR refuses a service CIDR that is not one (see
// ServicePrefix) or that overlaps the pod network: a virtual IP must never
// be a pod's address.
func CheckServiceCIDR(serviceCIDR, clusterCIDR string) error {
	svc, err := ServicePrefix(serviceCIDR)
	if err != nil {
		return err
	}
	pods, err := netip.ParsePrefix(clusterCIDR)
	if err != nil {
		return fmt.Errorf("cluster CIDR %q: %v", clusterCIDR, err)
	}
	if svc.Overlaps(pods.Masked()) {
		return fmt.Errorf("service CIDR %s overlaps the cluster (pod) CIDR %s", svc, pods.Masked())
	}
	return nil
}

// HasClusterIP reports whether s has a virtual IP: it is not headless and
// one was allocated (a Service stored by an older Shoal has none until it
// is applied again).
func (s *Service) HasClusterIP() bool {
	return s.ClusterIP != "" && s.ClusterIP != ClusterIPNone
}

// Headless reports whether s has no virtual IP on purpose.
func (s *Service) Headless() bool { return s.ClusterIP == ClusterIPNone }

// AffinitySeconds is how long a client sticks to one pod: 0 without
// ClientIP session affinity.
func (s *Service) AffinitySeconds() int32 {
	if s.SessionAffinity != SessionAffinityClientIP {
		return 0
	}
	if s.SessionAffinityTimeout > 0 {
		return s.SessionAffinityTimeout
	}
	return DefaultSessionAffinityTimeout
}

// AssignClusterIP decides svc's virtual IP from the service CIDR, as the
// FSM does at every put so that every member picks the same one: a
// headless Service has none; one re-applied without spec.clusterIP keeps
// the IP old had; a given IP must lie in the CIDR and be free; otherwise
// the first free address from a start derived from the Service's
// namespace and name (so a Service deleted and created again usually gets
// its IP back). An IP cannot change once set, as in Kubernetes.
func AssignClusterIP(svc, old *Service, others []*Service, serviceCIDR string) error {
	if svc.Headless() {
		return nil
	}
	if KeepClusterIP(svc, old) {
		return nil
	}
	if svc.ClusterIP != "" && old != nil && old.HasClusterIP() && svc.ClusterIP != old.ClusterIP {
		return fmt.Errorf("spec.clusterIP: may not change from %s to %s (delete and create the Service again)", old.ClusterIP, svc.ClusterIP)
	}
	p, err := ServicePrefix(serviceCIDR)
	if err != nil {
		return err
	}
	used := map[netip.Addr]string{}
	for _, o := range others {
		if o.Key() == svc.Key() || !o.HasClusterIP() {
			continue
		}
		if a, err := netip.ParseAddr(o.ClusterIP); err == nil {
			used[a] = o.Key()
		}
	}
	if svc.ClusterIP != "" {
		a, err := netip.ParseAddr(svc.ClusterIP)
		switch {
		case err != nil || !a.Is4():
			return fmt.Errorf("spec.clusterIP: %q is not an IPv4 address (or None)", svc.ClusterIP)
		case !p.Contains(a) || a == p.Addr() || a == lastAddr(p):
			return fmt.Errorf("spec.clusterIP: %s is not a usable address of the service CIDR %s", a, p)
		}
		if by, ok := used[a]; ok {
			return fmt.Errorf("spec.clusterIP: %s is already used by service %s", a, by)
		}
		svc.ClusterIP = a.String()
		return nil
	}
	a, err := freeServiceIP(p, used, svc.Key())
	if err != nil {
		return err
	}
	svc.ClusterIP = a.String()
	return nil
}

// KeepClusterIP gives svc, re-applied without spec.clusterIP, the virtual
// IP old had, as Kubernetes keeps it on an update; it reports whether it
// did.
func KeepClusterIP(svc, old *Service) bool {
	if svc.ClusterIP != "" || old == nil || !old.HasClusterIP() {
		return false
	}
	svc.ClusterIP = old.ClusterIP
	return true
}

// freeServiceIP probes p's usable addresses (not the network's nor the
// broadcast address) from a start hashed from key.
func freeServiceIP(p netip.Prefix, used map[netip.Addr]string, key string) (netip.Addr, error) {
	base := binary.BigEndian.Uint32(p.Addr().AsSlice())
	size := uint32(1)<<(32-p.Bits()) - 2 // usable addresses
	h := fnv.New32a()
	h.Write([]byte(key))
	start := h.Sum32() % size
	for i := range size {
		off := (start+i)%size + 1
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+off)
		a := netip.AddrFrom4(b)
		if _, ok := used[a]; !ok {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("spec.clusterIP: no free address left in the service CIDR " + p.String())
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (uint32(1)<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
