package dns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Forwarding limits.
const (
	// upstreamTimeout bounds one exchange with one upstream; resolvers
	// retry after about 5 s, so trying two upstreams fits in that.
	upstreamTimeout = 2 * time.Second
	// maxCacheTTL caps how long a forwarded answer is kept, whatever its
	// TTL says, so a changed upstream record is seen within minutes.
	maxCacheTTL = 5 * time.Minute
	// DefaultCacheSize is how many forwarded answers are kept.
	DefaultCacheSize = 10000
)

// errAllUpstreamsFailed is returned when no upstream gave a usable answer.
var errAllUpstreamsFailed = errors.New("dns: all upstreams failed")

// forwarder sends names the table does not own to the upstream resolvers,
// keeping their answers for as long as their TTLs allow.
type forwarder struct {
	upstreams []string
	udp, tcp  *dns.Client
	cache     *cache

	// inflight joins concurrent misses for one question into one upstream
	// exchange: when a popular name expires, every pod asks at once.
	mu       sync.Mutex
	inflight map[cacheKey]*call
}

// call is one upstream exchange that several queries may wait for.
type call struct {
	done    chan struct{}
	msg     *dns.Msg
	err     error
	waiters int // queries joined besides the first (read by tests)
}

func newForwarder(upstreams []string, cacheSize int) *forwarder {
	return &forwarder{
		upstreams: upstreams,
		udp:       &dns.Client{Net: "udp", Timeout: upstreamTimeout, UDPSize: 4096},
		tcp:       &dns.Client{Net: "tcp", Timeout: upstreamTimeout},
		cache:     newCache(cacheSize),
		inflight:  make(map[cacheKey]*call),
	}
}

// forward answers req from the cache or the upstreams; on failure it
// answers SERVFAIL. hit reports a cache hit, sent whether an upstream was
// asked.
func (f *forwarder) forward(ctx context.Context, req *dns.Msg) (resp *dns.Msg, hit, sent bool, err error) {
	q := req.Question[0]
	do := false
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	key := cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass, do: do, cd: req.CheckingDisabled}
	if cached, ok := f.cache.get(key, time.Now()); ok {
		return answerFrom(req, cached), true, false, nil
	}
	if len(f.upstreams) == 0 {
		return reply(req, dns.RcodeServerFailure), false, false, errAllUpstreamsFailed
	}
	f.mu.Lock()
	if c, ok := f.inflight[key]; ok {
		c.waiters++
		f.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return reply(req, dns.RcodeServerFailure), false, false, fmt.Errorf("dns: forward: %w", ctx.Err())
		}
		if c.err != nil {
			return reply(req, dns.RcodeServerFailure), false, false, c.err
		}
		return answerFrom(req, c.msg), false, false, nil
	}
	c := &call{done: make(chan struct{})}
	f.inflight[key] = c
	f.mu.Unlock()

	c.msg, c.err = f.exchange(ctx, upstreamQuery(req))
	if c.err == nil {
		f.cache.put(key, c.msg, time.Now())
	}
	f.mu.Lock()
	delete(f.inflight, key)
	f.mu.Unlock()
	close(c.done)
	if c.err != nil {
		return reply(req, dns.RcodeServerFailure), false, true, c.err
	}
	return answerFrom(req, c.msg), false, true, nil
}

// upstreamQuery is the question of req as this server asks it upstream.
func upstreamQuery(req *dns.Msg) *dns.Msg {
	q := req.Question[0]
	do := false
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	up := new(dns.Msg)
	up.SetQuestion(q.Name, q.Qtype)
	up.Question[0].Qclass = q.Qclass
	up.RecursionDesired = true
	up.CheckingDisabled = req.CheckingDisabled
	// Ask for large UDP answers upstream regardless of what the client
	// offered: the cache serves later clients, and Fit truncates for this
	// one.
	up.SetEdns0(4096, do)
	return up
}

// exchange tries each upstream in order, over UDP and then over TCP when
// the answer was truncated. An upstream's SERVFAIL or REFUSED counts as a
// failure so the next one gets a chance.
func (f *forwarder) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	var errs []error
	for _, addr := range f.upstreams {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		r, _, err := f.udp.ExchangeContext(ctx, m, addr)
		if err == nil && r.Truncated {
			r, _, err = f.tcp.ExchangeContext(ctx, m, addr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", addr, err))
			continue
		}
		if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
			errs = append(errs, fmt.Errorf("upstream %s: %s", addr, dns.RcodeToString[r.Rcode]))
			continue
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: %w", errAllUpstreamsFailed, errors.Join(errs...))
}

// answerFrom makes the client's response from an upstream (or cached)
// answer: the client's ID and question spelling, and our own OPT record
// instead of the upstream's. up is not modified.
func answerFrom(req, up *dns.Msg) *dns.Msg {
	m := reply(req, up.Rcode)
	m.Authoritative = false
	m.AuthenticatedData = up.AuthenticatedData
	m.Answer = up.Answer
	m.Ns = up.Ns
	for _, rr := range up.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			m.Extra = append(m.Extra, rr)
		}
	}
	if m.IsEdns0() == nil && m.Rcode > 0xF {
		// An extended rcode cannot be sent without an OPT record.
		m.Rcode = dns.RcodeServerFailure
	}
	return m
}

type cacheKey struct {
	name          string
	qtype, qclass uint16
	do, cd        bool
}

type cacheEntry struct {
	msg     *dns.Msg
	stored  time.Time
	expires time.Time
}

// cache holds upstream answers until their TTL runs out. It is bounded:
// when full, an arbitrary entry (Go's map order is random) makes room,
// which is cheap and good enough for a cache in front of a real resolver.
type cache struct {
	mu      sync.Mutex
	max     int
	entries map[cacheKey]cacheEntry
}

func newCache(size int) *cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &cache{max: size, entries: make(map[cacheKey]cacheEntry)}
}

// get returns a copy of the cached answer with its TTLs aged by the time
// it spent in the cache.
func (c *cache) get(k cacheKey, now time.Time) (*dns.Msg, bool) {
	c.mu.Lock()
	e, ok := c.entries[k]
	if ok && !now.Before(e.expires) {
		delete(c.entries, k)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	age := uint32(now.Sub(e.stored) / time.Second)
	m := e.msg.Copy()
	for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			h := rr.Header()
			if h.Rrtype != dns.TypeOPT {
				h.Ttl -= min(h.Ttl, age)
			}
		}
	}
	return m, true
}

// put stores m for its TTL: the smallest of its records', or for a
// negative answer the SOA's minimum (RFC 2308). Failures and answers
// without a usable TTL are not kept.
func (c *cache) put(k cacheKey, m *dns.Msg, now time.Time) {
	if m.Truncated || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
		return
	}
	ttl, ok := cacheTTL(m)
	if !ok || ttl == 0 {
		return
	}
	d := min(time.Duration(ttl)*time.Second, maxCacheTTL)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, exists := c.entries[k]; !exists && len(c.entries) >= c.max {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = cacheEntry{msg: m, stored: now, expires: now.Add(d)}
}

func cacheTTL(m *dns.Msg) (uint32, bool) {
	if len(m.Answer) == 0 {
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				return min(soa.Hdr.Ttl, soa.Minttl), true
			}
		}
		return 0, false
	}
	ttl := ^uint32(0)
	for _, section := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range section {
			ttl = min(ttl, rr.Header().Ttl)
		}
	}
	return ttl, true
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
