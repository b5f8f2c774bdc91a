package dns

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/miekg/dns"
)

// The fast path answers the common query, one question for a cluster name
// over UDP, straight from the datagram's bytes: it reads the question
// without unpacking the message, looks the lower-case name up in the
// table, and writes the response from records the table packed when it was
// built, patching in the query's ID, flags and question (which carries the
// client's capitalisation, RFC 0x20). The bytes are those Handle, Fit and
// Pack give for the same query, apart from the answers' random order; what
// the fast path does not recognise it leaves to them.

// Wire sizes and offsets.
const (
	headerLen = 12
	// optLen is the OPT record the server sends: root name, type, class
	// (the UDP size), TTL (extended rcode, version, flags), empty RDATA.
	optLen = 11
	// maxNameLen is the longest name on the wire (RFC 1035 2.3.4).
	maxNameLen = 255
	// maxFastAnswers bounds the answer records the fast path shuffles; a
	// response that fits a UDP datagram has fewer.
	maxFastAnswers = 128
)

// Header flag bits, in the third and fourth header bytes.
const (
	flagQR = 0x80 // byte 2
	flagAA = 0x04
	flagRD = 0x01
	flagRA = 0x80 // byte 3
	flagAD = 0x20
	flagCD = 0x10
	// doBit is EDNS0's DNSSEC OK bit in the OPT record's TTL flags.
	doBit = 0x8000
)

// packedSet is one RRset of a node as the answer section of a response,
// packed uncompressed when the table is built, followed by the records of
// the additional section (an SRV answer's target addresses).
type packedSet struct {
	qtype uint16
	rrs   []byte
	// ends are the offsets in rrs where each answer record ends: the
	// records are reordered per query by these.
	ends  []uint16
	extra uint16 // records in the additional section
}

// arena hands out the packed sets' memory in large chunks: a table has
// tens of thousands of them, and one allocation each would add as many
// objects for the collector.
type arena struct {
	bytes []byte
	ends  []uint16
	sets  []packedSet
}

const arenaChunk = 64 << 10

func (a *arena) byteSlice(n int) []byte {
	if cap(a.bytes)-len(a.bytes) < n {
		a.bytes = make([]byte, 0, max(n, arenaChunk))
	}
	l := len(a.bytes)
	a.bytes = a.bytes[:l+n]
	return a.bytes[l : l+n : l+n]
}

func (a *arena) endSlice(n int) []uint16 {
	if cap(a.ends)-len(a.ends) < n {
		a.ends = make([]uint16, 0, max(n, arenaChunk/2))
	}
	l := len(a.ends)
	a.ends = a.ends[:l+n]
	return a.ends[l : l : l+n]
}

func (a *arena) setSlice(n int) []packedSet {
	if cap(a.sets)-len(a.sets) < n {
		a.sets = make([]packedSet, 0, max(n, arenaChunk/64))
	}
	l := len(a.sets)
	a.sets = a.sets[:l+n]
	return a.sets[l : l : l+n]
}

// pack prepares the node's answers for the fast path. A set that does not
// pack (which the builder never makes) is simply left to the slow path.
func (n *node) pack(a *arena) {
	sets := [...]struct {
		qtype uint16
		set   []dns.RR
	}{
		{dns.TypeA, n.a}, {dns.TypeAAAA, n.aaaa}, {dns.TypeSRV, n.srv},
		{dns.TypePTR, n.ptr}, {dns.TypeSOA, n.soa}, {dns.TypeNS, n.ns},
	}
	k := 0
	for _, s := range sets {
		if len(s.set) > 0 && len(s.set) <= maxFastAnswers {
			k++
		}
	}
	if k == 0 {
		return
	}
	n.packed = a.setSlice(k)
	for _, s := range sets {
		if len(s.set) == 0 || len(s.set) > maxFastAnswers {
			continue
		}
		extra := []dns.RR(nil)
		if s.qtype == dns.TypeSRV {
			extra = n.extra
		}
		if p, ok := packSet(s.qtype, s.set, extra, a); ok {
			n.packed = append(n.packed, p)
		}
	}
}

func packSet(qtype uint16, set, extra []dns.RR, a *arena) (packedSet, bool) {
	size := 0
	for _, rr := range set {
		size += dns.Len(rr)
	}
	for _, rr := range extra {
		size += dns.Len(rr)
	}
	if size > dns.MaxMsgSize {
		return packedSet{}, false
	}
	p := packedSet{qtype: qtype, rrs: a.byteSlice(size), ends: a.endSlice(len(set)), extra: uint16(len(extra))}
	off := 0
	var err error
	for _, rr := range set {
		if off, err = dns.PackRR(rr, p.rrs, off, nil, false); err != nil {
			return packedSet{}, false
		}
		p.ends = append(p.ends, uint16(off))
	}
	for _, rr := range extra {
		if off, err = dns.PackRR(rr, p.rrs, off, nil, false); err != nil {
			return packedSet{}, false
		}
	}
	return p, off == size
}

// set returns the node's packed answer for qtype, and whether the node has
// records of that type at all: records without a packed answer are the
// slow path's.
func (n *node) set(qtype uint16) (p *packedSet, has bool) {
	for i := range n.packed {
		if n.packed[i].qtype == qtype {
			return &n.packed[i], true
		}
	}
	switch qtype {
	case dns.TypeA:
		return nil, len(n.a) > 0
	case dns.TypeAAAA:
		return nil, len(n.aaaa) > 0
	case dns.TypeSRV:
		return nil, len(n.srv) > 0
	case dns.TypePTR:
		return nil, len(n.ptr) > 0
	case dns.TypeSOA:
		return nil, len(n.soa) > 0
	case dns.TypeNS:
		return nil, len(n.ns) > 0
	}
	return nil, false
}

// wireQuery is what the fast path reads from a query datagram.
type wireQuery struct {
	qend  int // end of the question section: header and question are echoed
	qtype uint16
	edns  bool
	do    bool
	// limit is the largest response the client takes over UDP, as Fit
	// computes it.
	limit int
}

// fastScratch is one reader's working memory, so the fast path allocates
// nothing.
type fastScratch struct {
	name [maxNameLen]byte // the question's name, lower case and dotted
	perm [maxFastAnswers]uint16
}

// parseQuery reads a query the fast path answers: a standard query with no
// flags but RD, AD and CD, one question of class IN whose name has only
// letters, digits, '-' and '_' and no compression, no other records but an
// OPT (version 0, no options), and nothing after. It writes the name in
// lower case and dotted form ("db.default.") to sc.name and returns its
// length. Anything else, valid or not, is the slow path's.
func parseQuery(b []byte, sc *fastScratch) (q wireQuery, nameLen int, ok bool) {
	if len(b) < headerLen+1+4 || b[2]&^flagRD != 0 || b[3]&^(flagAD|flagCD) != 0 {
		return q, 0, false
	}
	if binary.BigEndian.Uint16(b[4:]) != 1 || binary.BigEndian.Uint16(b[6:]) != 0 || binary.BigEndian.Uint16(b[8:]) != 0 {
		return q, 0, false
	}
	arcount := binary.BigEndian.Uint16(b[10:])
	if arcount > 1 {
		return q, 0, false
	}
	off, nameLen, ok := lowerName(b, headerLen, sc)
	if !ok || off+4 > len(b) || binary.BigEndian.Uint16(b[off+2:]) != dns.ClassINET {
		return q, 0, false
	}
	q.qtype = binary.BigEndian.Uint16(b[off:])
	q.qend = off + 4
	q.limit = dns.MinMsgSize
	if arcount == 0 {
		return q, nameLen, q.qend == len(b)
	}
	// The OPT record: root owner, type OPT, class = UDP size, extended
	// rcode and version 0, only the DO flag, no options.
	opt := b[q.qend:]
	if len(opt) != optLen || opt[0] != 0 || binary.BigEndian.Uint16(opt[1:]) != dns.TypeOPT ||
		opt[5] != 0 || opt[6] != 0 || binary.BigEndian.Uint16(opt[7:])&^doBit != 0 || binary.BigEndian.Uint16(opt[9:]) != 0 {
		return q, 0, false
	}
	q.edns = true
	q.do = binary.BigEndian.Uint16(opt[7:])&doBit != 0
	q.limit = min(max(dns.MinMsgSize, int(binary.BigEndian.Uint16(opt[3:]))), EDNSSize)
	return q, nameLen, true
}

// lowerName reads the uncompressed name at b[off:] into sc.name, returning
// the offset after it and the dotted length. The root name is not taken:
// the table has no answers for it.
func lowerName(b []byte, off int, sc *fastScratch) (end, n int, ok bool) {
	for {
		if off >= len(b) {
			return 0, 0, false
		}
		l := int(b[off])
		off++
		if l == 0 {
			return off, n, n > 0
		}
		// A longer "length" is a compression pointer or reserved.
		if l > 63 || off+l > len(b) || n+l+1 > maxNameLen-1 {
			return 0, 0, false
		}
		for _, c := range b[off : off+l] {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				// Characters the slow path escapes ("\.", "\032"): rare,
				// and never in the table.
				return 0, 0, false
			}
			sc.name[n] = c
			n++
		}
		sc.name[n] = '.'
		n++
		off += l
	}
}

// answerFast appends to out the response to the query datagram req, which
// parseQuery has read into q and sc, if the fast path can answer it: a
// cluster name, its NODATA or an NXDOMAIN in the cluster domain, small
// enough for the client's UDP limit. It returns the query type and
// response code for the metrics. ok is false for everything else, which
// goes to Handle: names to forward, unusual queries, answers to truncate.
func (t *Table) answerFast(out, req []byte, q wireQuery, nameLen int, sc *fastScratch) (resp []byte, qtype uint16, rcode int, ok bool) {
	if q.qtype == dns.TypeANY {
		return out, 0, 0, false
	}
	name := sc.name[:nameLen]
	n, found := t.names[string(name)]
	var p *packedSet
	switch {
	case !found && !inZoneBytes(name, t.domain):
		return out, 0, 0, false // to forward
	case !found:
		rcode = dns.RcodeNameError
	default:
		var has bool
		if p, has = n.set(q.qtype); has && p == nil {
			return out, 0, 0, false
		}
	}
	soa := p == nil && (!found || n.inZone)
	size := q.qend
	if p != nil {
		size += len(p.rrs)
	}
	if soa {
		size += len(t.soaWire)
	}
	if q.edns {
		size += optLen
	}
	if size > q.limit {
		return out, 0, 0, false // to truncate
	}
	out = appendHeader(out, req, q, p, soa, rcode)
	out = append(out, req[headerLen:q.qend]...)
	switch {
	case p != nil:
		out = appendSet(out, p, q, sc)
	case soa:
		out = append(out, t.soaWire...)
		out = appendOPT(out, q)
	default:
		out = appendOPT(out, q)
	}
	return out, q.qtype, rcode, true
}

// appendHeader writes the response header as reply and Handle set it:
// the query's ID, RD and CD, authoritative, recursion available.
func appendHeader(out, req []byte, q wireQuery, p *packedSet, soa bool, rcode int) []byte {
	var an, ns, ar uint16
	if p != nil {
		an, ar = uint16(len(p.ends)), p.extra
	}
	if soa {
		ns = 1
	}
	if q.edns {
		ar++
	}
	out = append(out, req[0], req[1], flagQR|flagAA|req[2]&flagRD, flagRA|req[3]&flagCD|byte(rcode), 0, 1)
	out = binary.BigEndian.AppendUint16(out, an)
	out = binary.BigEndian.AppendUint16(out, ns)
	return binary.BigEndian.AppendUint16(out, ar)
}

// appendSet writes p's answer records in a random order (as shuffled does
// for Handle), then the additional section: the OPT first and the SRV
// targets after it, the order Handle builds it in.
func appendSet(out []byte, p *packedSet, q wireQuery, sc *fastScratch) []byte {
	k := len(p.ends)
	if k < 2 {
		out = append(out, p.rrs[:p.ends[0]]...)
	} else {
		perm := sc.perm[:k]
		for i := range perm {
			perm[i] = uint16(i)
		}
		for i := k - 1; i > 0; i-- {
			j := rand.IntN(i + 1)
			perm[i], perm[j] = perm[j], perm[i]
		}
		for _, i := range perm {
			start := uint16(0)
			if i > 0 {
				start = p.ends[i-1]
			}
			out = append(out, p.rrs[start:p.ends[i]]...)
		}
	}
	out = appendOPT(out, q)
	return append(out, p.rrs[p.ends[k-1]:]...)
}

// appendOPT writes the OPT record reply echoes to an EDNS0 client.
func appendOPT(out []byte, q wireQuery) []byte {
	if !q.edns {
		return out
	}
	var flags uint16
	if q.do {
		flags = doBit
	}
	out = append(out, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT), byte(EDNSSize>>8), byte(EDNSSize&0xff), 0, 0)
	out = binary.BigEndian.AppendUint16(out, flags)
	return append(out, 0, 0)
}
