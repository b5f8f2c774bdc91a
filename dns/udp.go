package dns

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// serveUDP reads queries from pc until it is closed, answering cluster
// names inline and handing only forwarded ones to a goroutine.
//
// This replaces miekg/dns's UDP server, which starts a goroutine per
// datagram: on a busy machine each hand-off between goroutines can wait
// for a CPU, and the p99 of a local answer grew to milliseconds. Answering
// in the reading goroutine makes a local answer one read, a map lookup and
// one write, like dnsmasq's loop. Several readers share a socket so a
// multi-core agent uses its cores.
//
// Replies use the kernel's choice of source address: with a specific
// listen address (the default, and the only safe way to run a resolver)
// that is the address the client asked.
func (s *Server) serveUDP(pc *net.UDPConn) {
	defer s.done.Done()
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (an ICMP error surfacing, a signal): keep serving.
			s.log.Debug("read udp", "err", err)
			continue
		}
		start := time.Now()
		req := new(dns.Msg)
		if err := req.Unpack(buf[:n]); err != nil {
			s.malformed(pc, buf[:n], from, err)
			continue
		}
		if req.Response {
			// Never answer a response: two servers would bounce it forever.
			continue
		}
		write := func(b []byte) (int, error) { return pc.WriteToUDPAddrPort(b, from) }
		if resp := s.local(req, from.Addr().Unmap()); resp != nil {
			s.respond(req, resp, true, start, write)
			continue
		}
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			s.respond(req, s.forward(req), true, start, write)
		}()
	}
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
