package dns

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// RateLimit is a per-client token bucket: each source IP may send QPS
// queries per second on average and Burst at once.
type RateLimit struct {
	QPS   float64
	Burst int
	// Disabled turns the limit off (benchmarks; a host-only listener).
	Disabled bool
}

// Default per-client limit: far above what a well-behaved pod sends (it
// caches, and most names are answered locally) yet low enough that one
// runaway client cannot take the agent's CPU or flood the upstreams.
const (
	DefaultRateQPS   = 2000
	DefaultRateBurst = 4000
)

const (
	limiterShards = 64
	// maxClientsPerShard bounds the limiter's memory whatever the number
	// of source addresses; idle clients are dropped first.
	maxClientsPerShard = 4096
)

// limiter keeps one token bucket per client IP. It is sharded so that
// concurrent queries from different clients rarely share a lock.
type limiter struct {
	rate, burst float64
	seed        maphash.Seed
	epoch       time.Time
	shards      [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Duration // since limiter.epoch: monotonic, cheap to compare
}

// newLimiter returns nil when limiting is off; a nil limiter allows all.
func newLimiter(cfg RateLimit) *limiter {
	if cfg.Disabled {
		return nil
	}
	l := &limiter{rate: cfg.QPS, burst: float64(cfg.Burst), seed: maphash.MakeSeed(), epoch: time.Now()}
	if l.rate <= 0 {
		l.rate = DefaultRateQPS
	}
	if l.burst <= 0 {
		l.burst = max(DefaultRateBurst, l.rate)
	}
	for i := range l.shards {
		l.shards[i].buckets = make(map[netip.Addr]*bucket)
	}
	return l
}

// allow takes a token from ip's bucket, reporting whether one was there.
func (l *limiter) allow(ip netip.Addr) bool {
	if l == nil {
		return true
	}
	now := time.Since(l.epoch)
	s := &l.shards[maphash.Comparable(l.seed, ip)%limiterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[ip]
	if !ok {
		if len(s.buckets) >= maxClientsPerShard {
			s.evict(now, l.burst/l.rate)
		}
		b = &bucket{tokens: l.burst, last: now}
		s.buckets[ip] = b
	}
	b.tokens = min(l.burst, b.tokens+(now-b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict drops the buckets that have refilled (their clients have been idle
// for fillTime seconds: forgetting them changes nothing), and if none
// have, an arbitrary half, so a flood of spoofed sources cannot grow the
// map without bound.
func (s *limiterShard) evict(now time.Duration, fillTime float64) {
	idle := time.Duration(fillTime * float64(time.Second))
	for ip, b := range s.buckets {
		if now-b.last >= idle {
			delete(s.buckets, ip)
		}
	}
	if len(s.buckets) < maxClientsPerShard {
		return
	}
	n := len(s.buckets) / 2
	for ip := range s.buckets {
		if n == 0 {
			break
		}
		delete(s.buckets, ip)
		n--
	}
}
