package dns

import (
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// The UDP side does not use miekg/dns's server, which starts a goroutine
// per datagram: on a busy machine each hand-off between goroutines can
// wait for a CPU, and the p99 of a local answer grew to milliseconds. Each
// socket has one reader that answers cluster names itself, like dnsmasq's
// loop; only forwarded queries get a goroutine. On Linux the readers read
// and write in batches (recvmmsg, sendmmsg) and each has its own socket
// bound with SO_REUSEPORT, so the kernel spreads clients over the cores
// without a lock between them (udp_linux.go); elsewhere several readers
// share one socket (udp_other.go).
//
// A datagram takes the fast path (wire.go) when it can: a plain query for
// a cluster name is answered from bytes the table prepared, with no
// unpacking and no allocation. Everything else, including every name to
// forward, is unpacked and answered by Handle as before.
//
// Replies use the kernel's choice of source address: with a specific
// listen address (the default, and the only safe way to run a resolver)
// that is the address the client asked.

// admission is what the rate limiter said about a query before the slow
// path got it.
type admission int

const (
	notAsked admission = iota // the slow path asks the limiter
	admitted
	limited
)

// datagram answers the query datagram b from `from`. A fast-path answer is
// appended to out and returned, for the caller to write; otherwise the
// slow path answers (writing on pc itself) and datagram returns nil.
func (s *Server) datagram(pc *net.UDPConn, b []byte, from netip.AddrPort, out []byte, sc *fastScratch, start time.Time) []byte {
	q, nameLen, ok := parseQuery(b, sc)
	if !ok {
		s.slowUDP(pc, b, from, start, notAsked)
		return nil
	}
	if !s.limit.allow(from.Addr().Unmap()) {
		s.slowUDP(pc, b, from, start, limited)
		return nil
	}
	resp, qtype, rcode, ok := s.table.Load().answerFast(out, b, q, nameLen, sc)
	if !ok {
		s.slowUDP(pc, b, from, start, admitted)
		return nil
	}
	s.metrics.query(qtype)
	// Counted before writing, as respond does.
	s.metrics.response(rcode)
	return resp
}

// slowUDP answers one datagram through miekg/dns: Handle for cluster
// names, a goroutine that forwards for the rest.
func (s *Server) slowUDP(pc *net.UDPConn, b []byte, from netip.AddrPort, start time.Time, adm admission) {
	req := new(dns.Msg)
	if err := req.Unpack(b); err != nil {
		s.malformed(pc, b, from, err)
		return
	}
	if req.Response {
		// Never answer a response: two servers would bounce it forever.
		return
	}
	write := func(b []byte) (int, error) { return pc.WriteToUDPAddrPort(b, from) }
	if resp := s.admitted(req, from.Addr().Unmap(), adm); resp != nil {
		s.respond(req, resp, true, start, write)
		return
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		s.respond(req, s.forward(req), true, start, write)
	}()
}

// malformed answers FORMERR to a datagram whose header parses but whose
// body does not, as a client deserves to know; anything shorter is noise
// and dropped.
func (s *Server) malformed(pc *net.UDPConn, b []byte, from netip.AddrPort, err error) {
	if len(b) < 12 { // shorter than a header
		return
	}
	id := uint16(b[0])<<8 | uint16(b[1])
	if b[2]&0x80 != 0 {
		return // a response
	}
	if !s.limit.allow(from.Addr().Unmap()) {
		return
	}
	m := new(dns.Msg)
	m.Id = id
	m.Response = true
	m.Opcode = int(b[2]>>3) & 0xF
	m.Rcode = dns.RcodeFormatError
	out, perr := m.Pack()
	if perr != nil {
		return
	}
	s.metrics.response(dns.RcodeFormatError)
	s.log.Debug("malformed query", "from", from, "err", err)
	_, _ = pc.WriteToUDPAddrPort(out, from)
}
