package agentsim

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/autopilot"
	"shoal/cluster"
	"shoal/sim/cpulabel"
	"shoal/sim/spread"
)

// formTimeout bounds the cluster's forming, per agent.
const formTimeout = 2 * time.Second

// form starts the first agent, then the others joining through it,
// JoinParallel at a time, and waits until the cluster has settled (see
// settled).
func (s *sim) form(ctx context.Context, r *Result) error {
	s.start = time.Now()
	first, err := newSimAgent(0, s.opt.Dir, s.base(), nil, "")
	if err != nil {
		return err
	}
	s.agents = append(s.agents, first)
	first.start(ctx)
	if err := s.waitReady(ctx, first); err != nil {
		return err
	}
	token, err := joinTokenOf(first)
	if err != nil {
		return err
	}
	if s.creds, err = apiclient.LoadCredentials(filepath.Join(first.cfg.DataDir, "admin.conf")); err != nil {
		return err
	}
	if s.api, err = first.client(s.creds); err != nil {
		return err
	}
	if err := s.join(ctx, token); err != nil {
		return err
	}
	roles, err := s.settled(ctx, time.Duration(s.opt.N)*formTimeout+time.Minute)
	if err != nil {
		return err
	}
	r.Form = time.Since(s.start)
	r.Voters, r.Replicas, r.Clients = cluster.CountRaftRoles(slices.Collect(maps.Values(roles))...)
	return nil
}

// join starts agents 1..N-1, at most JoinParallel of them not yet ready.
func (s *sim) join(ctx context.Context, token string) error {
	slots := make(chan struct{}, s.opt.JoinParallel)
	errs := make(chan error, s.opt.N)
	for i := 1; i < s.opt.N; i++ {
		a, err := newSimAgent(i, s.opt.Dir, s.base(), []string{s.agents[0].cfg.APIAddr}, token)
		if err != nil {
			return err
		}
		select {
		case slots <- struct{}{}:
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
		s.agents = append(s.agents, a)
		a.start(ctx)
		if i%25 == 0 {
			fmt.Fprintf(s.opt.Progress, "agentsim: N=%d: %d agents started, %v\n", s.opt.N, i+1, time.Since(s.start).Round(time.Second))
		}
		go func() {
			defer func() { <-slots }()
			if err := s.waitReady(ctx, a); err != nil {
				errs <- err
			}
		}()
	}
	for range cap(slots) {
		select {
		case slots <- struct{}{}:
		case err := <-errs:
			return err
		}
	}
	return nil
}

// waitReady waits for a's Ready hook.
func (s *sim) waitReady(ctx context.Context, a *simAgent) error {
	select {
	case <-a.ready:
		return nil
	case <-a.exited:
		return fmt.Errorf("agent %s ended before it was ready: %v", a.name, a.err)
	case <-time.After(time.Minute):
		return fmt.Errorf("agent %s not ready after a minute: %w", a.name, errTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settled waits until the state lists every live agent Ready, Raft holds
// the voters and replicas autopilot aims at for that many agents in one
// zone, and the roles stayed the same for 3 s; it returns them by name.
func (s *sim) settled(ctx context.Context, timeout time.Duration) (map[string]string, error) {
	deadline := time.Now().Add(timeout)
	var last map[string]string
	var since time.Time
	said := time.Now()
	for {
		roles, why := s.roles(ctx)
		if why == "" {
			why = s.short(roles)
		}
		switch {
		case why != "":
			last = nil
		case !mapsEqual(roles, last):
			last, since = roles, time.Now()
		case time.Since(since) >= 3*time.Second:
			return roles, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster not settled after %v: %s: %w", timeout, why, errTimeout)
		}
		// Forming 100 agents takes most of a minute: say what it waits for.
		if why != "" && time.Since(said) >= 10*time.Second {
			fmt.Fprintf(s.opt.Progress, "agentsim: N=%d: waiting %v: %s\n", s.opt.N, time.Since(s.start).Round(time.Second), why)
			said = time.Now()
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// roles is each live agent's Raft role as the state shows it, or why
// not yet (an agent missing or not Ready).
func (s *sim) roles(ctx context.Context) (map[string]string, string) {
	l, err := s.api.Nodes(ctx)
	if err != nil {
		return nil, err.Error()
	}
	byName := map[string]*cluster.Node{}
	for _, v := range l.Items {
		byName[v.Node.Name] = v.Node
	}
	roles := map[string]string{}
	for _, a := range s.live() {
		n := byName[a.name]
		if n == nil || n.Status != cluster.NodeReady || n.Raft == "" {
			return nil, fmt.Sprintf("%s not Ready (%d of %d nodes listed)", a.name, len(l.Items), len(s.agents))
		}
		roles[a.name] = n.Raft
	}
	return roles, ""
}

// readyRoles waits until every live agent is listed Ready with a Raft
// role, and returns the roles. A node reported NotReady for a moment (a
// probe missed on a loaded machine) is waited out; one that stays so for
// a minute fails the phase, named by what.
func (s *sim) readyRoles(ctx context.Context, what string) (map[string]string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		roles, why := s.roles(ctx)
		if why == "" {
			return roles, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %s for a minute: %w", what, why, errTimeout)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// short says how the Raft roles fall short of autopilot's aim, "" when
// they meet it.
func (s *sim) short(roles map[string]string) string {
	n := len(roles)
	voters := autopilot.DefaultTargetVoters(n)
	replicas := min(autopilot.DefaultReplicasPerZone, autopilot.DefaultMaxReplicas, n-voters)
	v, r, _ := cluster.CountRaftRoles(slices.Collect(maps.Values(roles))...)
	if v != voters || r != replicas {
		return fmt.Sprintf("Raft holds %d voters and %d replicas, aiming at %d and %d", v, r, voters, replicas)
	}
	return ""
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// leader is the agent whose store leads, nil if none does.
func (s *sim) leader() *simAgent {
	for _, a := range s.live() {
		if st := a.store.Load(); st != nil && st.IsLeader() {
			return a
		}
	}
	return nil
}

// idle waits Settle, then profiles the process for Idle and splits its
// CPU by agent and role.
func (s *sim) idle(ctx context.Context, r *Result) error {
	if err := sleep(ctx, s.opt.Settle); err != nil {
		return err
	}
	roles, err := s.readyRoles(ctx, "before the idle window")
	if err != nil {
		return err
	}
	l := s.leader()
	if l == nil {
		return fmt.Errorf("no leader before the idle window")
	}
	prof := cpulabel.Start()
	cpu0, e0, t0 := cpulabel.Process(), l.store.Load().State().Index(), time.Now()
	if err := sleep(ctx, s.opt.Idle); err != nil {
		return err
	}
	cpu1, e1, secs := cpulabel.Process(), l.store.Load().State().Index(), time.Since(t0).Seconds()
	byAgent, err := prof.Stop(agentLabel)
	if err != nil {
		return err
	}
	if s.opt.CPUProfile != "" && byAgent != nil {
		if err := os.WriteFile(s.opt.CPUProfile, prof.Profile(), 0o600); err != nil {
			return fmt.Errorf("write the CPU profile: %w", err)
		}
	}
	r.Process = 100 * (cpu1 - cpu0).Seconds() / secs
	r.Entries = float64(e1-e0) / secs
	r.HeapMiB = heapPerAgent(len(s.agents))
	if byAgent == nil {
		r.Leader = -1
		return nil
	}
	r.Other = r.Process
	for _, a := range s.agents {
		pct := 100 * byAgent[a.name].Seconds() / secs
		r.Other -= pct
		switch {
		case a == l:
			r.Leader = pct
		case roles[a.name] == cluster.RaftClient:
			r.Client.Add(pct)
		default:
			r.Member.Add(pct)
		}
	}
	return nil
}

// changes times Markers writes through the first agent's API, each after
// a quiet second, until every agent's state shows them.
func (s *sim) changes(ctx context.Context, r *Result) error {
	var all []spread.Spread
	for i := range s.opt.Markers {
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
		t0 := time.Now()
		resp, err := s.api.Apply(ctx, []api.File{{Name: "marker.yaml", Data: marker("sim-marker", i)}})
		if err != nil {
			return fmt.Errorf("marker %d: %w", i, err)
		}
		sp, err := s.spreadOf(ctx, resp.Index, t0, 30*time.Second)
		if err != nil {
			return err
		}
		all = append(all, sp)
	}
	r.Change = medianSpread(all)
	return nil
}

// marker is a ConfigMap write: one Raft entry, nothing scheduled.
func marker(name string, i int) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {round: \"%d\"}\n", name, i)
}

// medianSpread is the median of each quantile over several spreads (a
// missing quantile counts as the slowest).
func medianSpread(all []spread.Spread) spread.Spread {
	med := func(get func(spread.Spread) time.Duration) time.Duration {
		var v []time.Duration
		for _, s := range all {
			if d := get(s); d >= 0 {
				v = append(v, d)
			}
		}
		return spread.Of(v, len(all)).P50
	}
	out := spread.Spread{
		P50: med(func(s spread.Spread) time.Duration { return s.P50 }),
		P99: med(func(s spread.Spread) time.Duration { return s.P99 }),
		Max: med(func(s spread.Spread) time.Duration { return s.Max }),
	}
	if len(all) > 0 {
		out.Seen, out.Of = all[len(all)/2].Seen, all[len(all)/2].Of
	}
	return out
}
