package integration

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/chaos"
	"shoal/internal/poll"
)

// TestWriteHeldUpByAPartitionIsNotAppliedLate: a follower forwards
// writes to the leader over one HTTP/2 connection. A write forwarded
// while the two are cut apart sits on that connection; its caller gives
// up; when the cut heals the connection delivers it to the leader. It
// must be refused there, not applied after everyone stopped waiting for
// it (the fault suite saw a Deployment scaled this way after its final
// read: seed 479842). A read through the leader after the heal finds
// the value from before. Without the deadline check the held write is
// applied about 3.5 s after the heal here.
func TestWriteHeldUpByAPartitionIsNotAppliedLate(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3})
	leader := c.WaitLeader()
	follower := (leader + 1) % len(c.Agents)
	f := c.Agents[follower]
	faults := NewFaults(t, c)

	read := func() string {
		t.Helper()
		r := c.Agents[leader].Run("get", "configmap", "held", "--consistent", "-o", "json")
		if r.Code != 0 {
			t.Fatalf("read the ConfigMap through the leader: %s", r.Err())
		}
		var cm corev1.ConfigMap
		if err := json.Unmarshal([]byte(r.Stdout), &cm); err != nil {
			t.Fatal(err)
		}
		return cm.Data["v"]
	}
	// Through the follower, so that its connection to the leader is open.
	if r := f.RunInput(configMap("held", "before"), "apply", "-f", "-"); r.Code != 0 {
		t.Fatalf("apply through agent%d: %s", follower+1, r.Err())
	}

	cut := chaos.Action{Kind: chaos.Bridge, Targets: []int{follower}, Peers: []int{leader}}
	faults.Inject(cut)
	began := time.Now()
	r := f.RunInput(configMap("held", "late"), "--request-timeout", "3s", "apply", "-f", "-")
	if r.Code == 0 {
		t.Fatalf("a write through agent%d, cut from the leader, was acknowledged: %s", follower+1, r.Stdout)
	}
	t.Logf("the write through the cut follower gave up after %v: %s", time.Since(began).Round(time.Millisecond), r.Stderr)
	// Long enough for TCP's retransmissions to back off past the heal,
	// and for the caller's deadline to pass before they deliver.
	time.Sleep(5*time.Second - time.Since(began))
	faults.HealAll()
	healed := time.Now()

	// Once the follower reaches the leader again, whatever its connection
	// held has been delivered: a write through it now, on that
	// connection, is answered after the held one.
	poll.Until(t, ClusterTimeout, fmt.Sprintf("a write through agent%d after the heal", follower+1), func() (bool, string) {
		r := f.RunInput(configMap("after-heal", "1"), "--request-timeout", "5s", "apply", "-f", "-")
		return r.Code == 0, r.Err()
	})
	time.Sleep(2 * time.Second)
	if v := read(); v != "before" {
		t.Fatalf("the ConfigMap holds %q %v after the heal: the write its caller gave up on before the heal was applied", v, time.Since(healed).Round(time.Millisecond))
	}
}
