package autopilot

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

const (
	lease  = 10 * time.Second
	margin = 5 * time.Second
)

func TestLeasesExpiry(t *testing.T) {
	elected := now
	for _, tc := range []struct {
		name    string
		renewAt []time.Duration // after election
		at      time.Duration   // when asked, after election
		want    bool
	}{
		{"new leader, no renewal: within a full lease plus margin", nil, lease, false},
		{"new leader, no renewal: at exactly lease plus margin", nil, lease + margin, false},
		{"new leader, no renewal: past lease plus margin", nil, lease + margin + time.Nanosecond, true},
		{"renewed: still held within lease plus margin of it", []time.Duration{20 * time.Second}, 20*time.Second + lease + margin, false},
		{"renewed: expired past lease plus margin of it", []time.Duration{20 * time.Second}, 20*time.Second + lease + margin + time.Nanosecond, true},
		{"renewals keep it held", []time.Duration{5 * time.Second, 15 * time.Second, 25 * time.Second, 35 * time.Second}, 45 * time.Second, false},
		{"an out-of-order older renewal does not move it back", []time.Duration{30 * time.Second, 10 * time.Second}, 40 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLeases(lease, margin, elected)
			for _, r := range tc.renewAt {
				l.Renew("n1", elected.Add(r))
			}
			if got := l.Expired("n1", elected.Add(tc.at)); got != tc.want {
				t.Errorf("Expired = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLeasesRenewalBeforeElectionCountsFromElection(t *testing.T) {
	// Nothing before the election can shorten the wait.
	l := NewLeases(lease, margin, now)
	l.Renew("n1", now.Add(-time.Hour))
	if l.Expired("n1", now.Add(lease+margin)) {
		t.Error("expired before a full lease plus margin from the election")
	}
}

func TestLeasesForget(t *testing.T) {
	l := NewLeases(lease, margin, now)
	l.Renew("n1", now.Add(time.Minute))
	l.Forget("n1")
	if !l.Expired("n1", now.Add(time.Minute)) {
		t.Error("a forgotten node's lease should count from the election")
	}
}

func TestLeasesExpiredNodes(t *testing.T) {
	l := NewLeases(lease, margin, now)
	l.Renew("fresh", now.Add(20*time.Second))
	l.Renew("stale", now.Add(2*time.Second))
	got := l.ExpiredNodes([]string{"fresh", "stale", "silent"}, now.Add(30*time.Second))
	want := map[string]bool{"fresh": false, "stale": true, "silent": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ExpiredNodes = %v, want %v", got, want)
	}
}

func TestLeasesDefaults(t *testing.T) {
	l := NewLeases(0, 0, now)
	if l.Expired("n", now.Add(DefaultLease+DefaultLeaseMargin)) || !l.Expired("n", now.Add(DefaultLease+DefaultLeaseMargin+1)) {
		t.Error("zero lease and margin should take the defaults")
	}
	h := NewHolder(0)
	h.Renewed(now)
	if !h.Valid(now.Add(DefaultLease-1)) || h.Valid(now.Add(DefaultLease)) {
		t.Error("zero holder lease should take the default")
	}
}

func TestLeasesConcurrent(t *testing.T) {
	l := NewLeases(lease, margin, now)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			node := fmt.Sprint("n", i%3)
			for j := range 200 {
				at := now.Add(time.Duration(j) * time.Millisecond)
				l.Renew(node, at)
				l.Expired(node, at)
				l.ExpiredNodes([]string{"n0", "n1", "n2"}, at)
				if j%50 == 0 {
					l.Forget(node)
				}
			}
		})
	}
	wg.Wait()
}

func TestHolder(t *testing.T) {
	h := NewHolder(lease)
	if h.Valid(now) {
		t.Fatal("valid before any renewal: a new agent must not run StatefulSet pods yet")
	}
	h.Renewed(now)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {lease - time.Nanosecond, true}, {lease, false}, {time.Hour, false}} {
		if got := h.Valid(now.Add(tc.at)); got != tc.want {
			t.Errorf("Valid %v after the send = %v, want %v", tc.at, got, tc.want)
		}
	}
	// An answer to an older request arriving late does not shorten the
	// lease; a newer one extends it.
	h.Renewed(now.Add(8 * time.Second))
	h.Renewed(now.Add(3 * time.Second))
	if !h.Valid(now.Add(17 * time.Second)) {
		t.Error("an older renewal moved the lease back")
	}
}

func TestHolderSentTimeRule(t *testing.T) {
	// One clock for both sides, for the sake of the test. The agent sends at
	// 0; the leader records the renewal at 3s; the answer is held up and
	// arrives at 9s. Counting from the send, the agent stops its pods at
	// 10s, a full margin before the leader may place them elsewhere (after
	// 18s). Counting from the arrival it would still run them at 18s.
	sent, recorded, arrived := now, now.Add(3*time.Second), now.Add(9*time.Second)
	h := NewHolder(lease)
	h.Renewed(sent)
	l := NewLeases(lease, margin, now.Add(-time.Hour))
	l.Renew("n1", recorded)
	for at := arrived; at.Before(now.Add(time.Minute)); at = at.Add(100 * time.Millisecond) {
		if h.Valid(at) && l.Expired("n1", at) {
			t.Fatalf("at %v the agent still holds a lease the leader considers expired", at.Sub(now))
		}
	}
	// The agent's lease ends at least the margin before the leader's wait.
	var agentEnd, leaderEnd time.Duration
	for d := time.Duration(0); d < time.Minute; d += 100 * time.Millisecond {
		if agentEnd == 0 && !h.Valid(now.Add(d)) {
			agentEnd = d
		}
		if leaderEnd == 0 && l.Expired("n1", now.Add(d)) {
			leaderEnd = d
		}
	}
	if leaderEnd-agentEnd < margin {
		t.Errorf("agent stops at %v, leader moves pods at %v: less than the margin apart", agentEnd, leaderEnd)
	}
}

func TestHolderConcurrent(t *testing.T) {
	h := NewHolder(lease)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				at := now.Add(time.Duration(i*j) * time.Millisecond)
				h.Renewed(at)
				h.Valid(at)
			}
		})
	}
	wg.Wait()
}
