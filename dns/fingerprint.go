package dns

import (
	"encoding/binary"
	"hash/maphash"
	"strconv"

	"shoal/cluster"
)

// fingerprint hashes exactly the fields of st that BuildTable reads, so
// Update can skip the rebuild when a state change does not touch DNS: most
// changes (a container restart count, a node's lease, a workload's spec)
// don't, and hashing is a fraction of the cost of building.
func fingerprint(seed maphash.Seed, st *cluster.State, domain string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	str := func(s string) { h.WriteString(s); h.WriteByte(0) }
	num := func(n uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], n)
		_, _ = h.Write(b[:])
	}
	// Go randomises map order: hash a map as the sum of its entries'
	// hashes, which does not depend on it.
	labels := func(m map[string]string) {
		var sum uint64
		for k, v := range m {
			sum += maphash.String(seed, k+"\x00"+v)
		}
		num(sum)
		num(uint64(len(m)))
	}
	str(domain)
	str(st.Config().Domain)
	for _, s := range st.Services() {
		str(s.Namespace)
		str(s.Name)
		labels(s.Selector)
		str(s.ClusterIP)
		str(strconv.FormatBool(s.PublishNotReadyAddresses))
		for _, p := range s.Ports {
			str(p.Name)
			str(p.Protocol)
			num(uint64(p.Port)<<32 | uint64(uint32(p.TargetPort)))
			str(p.TargetPortName)
		}
		str("\x01") // end of service
	}
	for p := range st.Pods() {
		str(p.Namespace)
		str(p.Name)
		labels(p.Labels)
		str(p.Spec.Hostname)
		str(p.Spec.Subdomain)
		str(p.Status.PodIP)
		str(string(p.Status.Phase))
		str(strconv.FormatBool(p.Ready()) + strconv.FormatBool(p.Terminating))
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				str(cp.Name)
				num(uint64(cp.ContainerPort))
			}
		}
	}
	return h.Sum64()
}
