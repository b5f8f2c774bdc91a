package dns

import (
	"math/rand/v2"
	"strings"

	"github.com/miekg/dns"
)

// EDNSSize is the UDP payload size the server advertises in its OPT record:
// the DNS flag day 2020 value, which avoids IP fragmentation on any path.
const EDNSSize = 1232

// Handle answers req from t. It returns nil when the name is not the
// table's to answer (outside the cluster domain and not one of its short
// forms): the caller forwards such queries. Handle is pure apart from the
// shuffling of answers, never blocks, and never mutates req or t.
//
// The response is not yet sized for its transport: the caller passes it to
// Fit before writing it.
func Handle(t *Table, req *dns.Msg) *dns.Msg {
	if req.Response {
		// Only queries are answered; a stray response would otherwise bounce
		// between two servers.
		return reply(req, dns.RcodeFormatError)
	}
	if req.Opcode != dns.OpcodeQuery {
		return reply(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return reply(req, dns.RcodeFormatError)
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		return reply(req, dns.RcodeBadVers)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	n, ok := t.names[name]
	if !ok {
		if !inZone(name, t.domain) {
			return nil
		}
		m := reply(req, dns.RcodeNameError)
		m.Authoritative = true
		m.Ns = []dns.RR{t.soa}
		return m
	}
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		// Cluster names exist only in class IN; CHAOS and friends would
		// only reveal the server to a scanner.
		return reply(req, dns.RcodeRefused)
	}
	m := reply(req, dns.RcodeSuccess)
	m.Authoritative = true
	switch q.Qtype {
	case dns.TypeA:
		m.Answer = shuffled(n.a)
	case dns.TypeAAAA:
		m.Answer = shuffled(n.aaaa)
	case dns.TypeSRV:
		m.Answer = shuffled(n.srv)
		m.Extra = append(m.Extra, n.extra...)
	case dns.TypePTR:
		m.Answer = n.ptr
	case dns.TypeSOA:
		m.Answer = n.soa
	case dns.TypeNS:
		m.Answer = n.ns
	case dns.TypeANY:
		// RFC 8482: answer ANY with one RRset rather than everything, so the
		// server is no amplifier.
		for _, set := range [][]dns.RR{n.a, n.aaaa, n.srv, n.ptr, n.soa} {
			if len(set) > 0 {
				m.Answer = shuffled(set)
				break
			}
		}
	}
	if len(m.Answer) == 0 && n.inZone {
		// NODATA: the name exists without this type. The SOA lets resolvers
		// cache the negative answer for its (short) minimum TTL.
		m.Ns = []dns.RR{t.soa}
	}
	return m
}

// reply starts a response to req with rcode, echoing EDNS0 when the client
// used it.
func reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	// Recursion is available: names outside the cluster are forwarded.
	m.RecursionAvailable = true
	if len(req.Question) > 0 {
		// Echo only the first question; a query with several is answered
		// FORMERR and must not be amplified.
		m.Question = req.Question[:1:1]
	}
	// Pack moves the upper bits of an extended rcode (BADVERS) into the OPT.
	m.Rcode = rcode
	if opt := req.IsEdns0(); opt != nil {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(EDNSSize)
		o.SetDo(opt.Do())
		m.Extra = []dns.RR{o}
	}
	return m
}

// shuffled returns set in a random order, so clients that take the first
// address spread over the pods. The table's slice is shared and not
// touched: a set of one or none is returned as is, a larger one is copied.
func shuffled(set []dns.RR) []dns.RR {
	if len(set) < 2 {
		return set
	}
	out := make([]dns.RR, len(set))
	copy(out, set)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Fit sizes resp for the transport req came over: over UDP to the client's
// EDNS0 buffer size (512 bytes without EDNS0) but never over EDNSSize,
// setting the TC bit when records had to be dropped so the client retries
// over TCP; over TCP to the largest message. It compresses names only when
// that is needed to fit. The UDP cap is DNS Flag Day 2020's 1232 bytes:
// it avoids fragmentation, and it keeps a spoofed small query from
// drawing a large answer at a victim (amplification).
func Fit(req, resp *dns.Msg, udp bool) {
	size := dns.MaxMsgSize
	if udp {
		size = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = min(max(size, int(opt.UDPSize())), EDNSSize)
		}
	}
	resp.Truncate(size)
}
