package dns

import (
	"fmt"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the server's Prometheus collectors. The per-type and
// per-rcode counters are resolved once here, so the query path does a
// read-only map lookup instead of a labelled-vector lookup under a lock.
type metrics struct {
	queries      map[uint16]prometheus.Counter
	otherQueries prometheus.Counter
	responses    map[int]prometheus.Counter
	otherRcodes  prometheus.Counter
	duration     prometheus.Histogram
	forwarded    prometheus.Counter
	cacheHits    prometheus.Counter
	rateLimited  prometheus.Counter
	// forwardRefused counts queries for outside names from clients that
	// are not this node's pods or host.
	forwardRefused prometheus.Counter
}

// Query types worth their own label value; the rest count as "other" so a
// scanner sending random types cannot grow the label set.
var labelledTypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeSOA, dns.TypeNS,
	dns.TypeANY, dns.TypeCNAME, dns.TypeTXT, dns.TypeMX, dns.TypeHTTPS,
	dns.TypeSVCB, dns.TypeDS, dns.TypeDNSKEY, dns.TypeCAA,
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_dns_queries_total",
		Help: "DNS queries received, by query type.",
	}, []string{"type"})
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_dns_responses_total",
		Help: "DNS responses sent, by response code.",
	}, []string{"rcode"})
	m := &metrics{
		queries:      make(map[uint16]prometheus.Counter),
		otherQueries: queries.WithLabelValues("other"),
		responses:    make(map[int]prometheus.Counter),
		otherRcodes:  responses.WithLabelValues("other"),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shoal_dns_request_duration_seconds",
			Help: "Time from receiving a DNS query to writing its response.",
			// Local answers take microseconds, forwarded ones milliseconds.
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3, 100e-3, 500e-3, 2},
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_dns_forwarded_total",
			Help: "DNS queries sent to an upstream resolver.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_dns_cache_hits_total",
			Help: "Forwardable DNS queries answered from the cache.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_dns_rate_limited_total",
			Help: "DNS queries refused because their client exceeded its rate limit.",
		}),
		forwardRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shoal_dns_forward_refused_total",
			Help: "DNS queries for names outside the cluster refused because their client is neither a pod nor the host.",
		}),
	}
	for _, t := range labelledTypes {
		m.queries[t] = queries.WithLabelValues(dns.TypeToString[t])
	}
	for rc := dns.RcodeSuccess; rc <= dns.RcodeBadCookie; rc++ {
		if s, ok := dns.RcodeToString[rc]; ok {
			m.responses[rc] = responses.WithLabelValues(s)
		}
	}
	for _, c := range []prometheus.Collector{queries, responses, m.duration, m.forwarded, m.cacheHits, m.rateLimited, m.forwardRefused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("dns: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) query(qtype uint16) {
	if c, ok := m.queries[qtype]; ok {
		c.Inc()
		return
	}
	m.otherQueries.Inc()
}

func (m *metrics) response(rcode int) {
	if c, ok := m.responses[rcode]; ok {
		c.Inc()
		return
	}
	m.otherRcodes.Inc()
}
