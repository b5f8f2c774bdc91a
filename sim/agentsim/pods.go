package agentsim

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/miekg/dns"

	"shoal/agent/api"
	"shoal/cluster"
)

// deployment is the Deployment the simulation runs and the headless
// Service over its pods.
const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: sim}
spec:
  replicas: %d
  selector: {matchLabels: {app: sim}}
  template:
    metadata: {labels: {app: sim}}
    spec:
      containers: [{name: app, image: busybox:1}]
---
apiVersion: v1
kind: Service
metadata: {name: sim}
spec:
  clusterIP: None
  selector: {app: sim}
  ports: [{port: 80}]
`

// pods applies the Deployment, waits until the state shows all its pods
// Running, checks that the agents' runtimes hold exactly that many, and
// asks a client agent's DNS for the Service.
func (s *sim) pods(ctx context.Context, r *Result) error {
	r.Pods = s.opt.N * s.opt.PodsPerNode
	t0 := time.Now()
	if _, err := s.api.Apply(ctx, []api.File{{Name: "sim.yaml", Data: fmt.Sprintf(deployment, r.Pods)}}); err != nil {
		return err
	}
	if err := s.allRunning(ctx, r.Pods, "", 5*time.Minute); err != nil {
		return err
	}
	r.PodsRunning = time.Since(t0)
	held, ips := 0, map[string]bool{}
	for _, a := range s.live() {
		held += len(a.rt.Running())
		for _, ip := range a.rt.PodIPs() {
			ips[ip] = true
		}
	}
	if held != r.Pods {
		return fmt.Errorf("the state shows %d pods Running, the agents' runtimes run %d", r.Pods, held)
	}
	// The state's Running is the leader's view; the client's DNS serves
	// what its stream brought it so far.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := s.askDNS(ctx, ips)
		if err != nil {
			return err
		}
		if r.DNSAnswers = n; n == r.Pods || time.Now().After(deadline) {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// allRunning waits until the state shows want pods of the Deployment
// Running, none of them on node gone.
func (s *sim) allRunning(ctx context.Context, want int, gone string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := s.running(ctx, gone)
		if err == nil && got == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pods Running (%v) after %v: %w", got, want, err, timeout, errTimeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// running counts the Deployment's Running pods not on node gone.
func (s *sim) running(ctx context.Context, gone string) (int, error) {
	l, err := s.api.Pods(ctx, "default")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range l.Items {
		if p.Labels["app"] == "sim" && p.Status.Phase == cluster.PodRunning && p.NodeName != gone {
			n++
		}
	}
	return n, nil
}

// askDNS asks a client agent's DNS server (the last agent's, a client
// once N is past the Raft members) for the headless Service over TCP (its
// answer is longer than a datagram) and checks that every address is a
// pod's that some agent's runtime holds; it returns how many there are.
func (s *sim) askDNS(ctx context.Context, ips map[string]bool) (int, error) {
	a := s.agents[len(s.agents)-1]
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion("sim.default.svc.cluster.local.", dns.TypeA)
	in, _, err := c.ExchangeContext(ctx, q, net.JoinHostPort(addr(a.i), dnsPort))
	if err != nil {
		return 0, fmt.Errorf("ask %s's DNS: %w", a.name, err)
	}
	var got []string
	for _, rr := range in.Answer {
		if ar, ok := rr.(*dns.A); ok {
			got = append(got, ar.A.String())
		}
	}
	for _, ip := range got {
		if !ips[ip] {
			return 0, fmt.Errorf("%s's DNS answers %s, an IP no agent's runtime holds", a.name, ip)
		}
	}
	return len(got), nil
}

// nodeLoss stops a client agent that runs pods and times the state
// marking it NotReady and its pods running elsewhere.
func (s *sim) nodeLoss(ctx context.Context, r *Result) error {
	roles, err := s.readyRoles(ctx, "before the loss")
	if err != nil {
		return err
	}
	var victim *simAgent
	for _, a := range slices.Backward(s.live()) {
		if roles[a.name] == cluster.RaftClient && len(a.rt.Running()) > 0 {
			victim = a
			break
		}
	}
	if victim == nil {
		return nil // no client agent (N within Raft's members): nothing to lose
	}
	r.Moved = len(victim.rt.Running())
	t0 := time.Now()
	if err := victim.stop(time.Minute); err != nil {
		return err
	}
	if err := s.waitNode(ctx, victim.name, 5*time.Minute); err != nil {
		return err
	}
	r.NotReady = time.Since(t0)
	if err := s.allRunning(ctx, r.Pods, victim.name, 5*time.Minute); err != nil {
		return err
	}
	r.PodsBack = time.Since(t0)
	return nil
}

// waitNode waits until the state shows node other than Ready.
func (s *sim) waitNode(ctx context.Context, node string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := s.api.Nodes(ctx)
		if err == nil {
			for _, v := range l.Items {
				if v.Node.Name == node && v.Node.Status != cluster.NodeReady {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still Ready after %v: %w", node, timeout, errTimeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// failover stops the leader and times the first write that succeeds
// through another agent, then how long it takes to reach the others.
func (s *sim) failover(ctx context.Context, r *Result) error {
	if len(s.live()) < 3 {
		return nil // a lost leader of one or two has no quorum left
	}
	var l *simAgent
	for deadline := time.Now().Add(30 * time.Second); l == nil; {
		if l = s.leader(); l == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("no leader to stop for 30 s: %w", errTimeout)
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	if l == s.agents[0] {
		// The first agent's API served the writes so far: move to the
		// last live one, a client when there are clients.
		live := s.live()
		c, err := live[len(live)-1].client(s.creds)
		if err != nil {
			return err
		}
		s.api = c
	}
	t0 := time.Now()
	if err := l.stop(time.Minute); err != nil {
		return err
	}
	for i := 0; ; i++ {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := s.api.Apply(wctx, []api.File{{Name: "failover.yaml", Data: marker("sim-failover", i)}})
		cancel()
		if err == nil {
			r.Write = time.Since(t0)
			r.Seen, err = s.spreadOf(ctx, resp.Index, t0, 30*time.Second)
			return err
		}
		if time.Since(t0) > 2*time.Minute {
			return fmt.Errorf("no write accepted within 2 minutes of the leader's loss: %w", err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}
