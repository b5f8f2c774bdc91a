package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"shoal/autoscale"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/metrics"
)

// autoscalerUnit is the leader's HorizontalPodAutoscaler controller:
// every sync period it reads each autoscaler's pods' usage from their
// agents, computes the replicas with package autoscale, and commits the
// workload's new replicas (as `shoal scale` does) and the autoscaler's
// status.
type autoscalerUnit struct {
	store stateStore
	// fetch reads a node's metrics report (apiclient.MetricsFetch over
	// the given state).
	fetch func(st *cluster.State) metrics.Fetch
	every time.Duration
	now   func() time.Time
	log   *slog.Logger

	// history is each autoscaler's recommendations and scale events, by
	// UID; readiness is when each pod (by UID) was last seen to turn
	// ready or unready. Both start afresh with each term, as Kubernetes'
	// controller's after a restart.
	history   map[string]*autoscale.History
	readiness map[string]readiness
}

type readiness struct {
	ready bool
	since time.Time
}

// run syncs every period until ctx ends (leadership lost or agent
// stopping), following readiness changes in between.
func (u *autoscalerUnit) run(ctx context.Context) {
	if u.now == nil {
		u.now = time.Now
	}
	if u.every == 0 {
		u.every = 15 * time.Second
	}
	u.history, u.readiness = map[string]*autoscale.History{}, map[string]readiness{}
	t := time.NewTicker(u.every)
	defer t.Stop()
	for {
		changed := u.store.Changed()
		select {
		case <-ctx.Done():
			return
		case <-changed:
			u.trackReadiness(u.store.State())
		case <-t.C:
			u.syncAll(ctx)
		}
	}
}

// trackReadiness notes when the autoscaled pods turn ready or unready:
// the state keeps no transition time, and Kubernetes' cpu rules need it.
func (u *autoscalerUnit) trackReadiness(st *cluster.State) {
	now := u.now()
	seen := map[string]bool{}
	for _, o := range st.Objects(cluster.KindHorizontalPodAutoscaler, "") {
		a := o.Autoscaler
		if a == nil {
			continue
		}
		wl, ok := st.Workload(a.TargetKind, o.Namespace, a.TargetName)
		if !ok {
			continue
		}
		for _, p := range st.PodsOwnedBy(wl.UID) {
			seen[p.UID] = true
			r, ok := u.readiness[p.UID]
			if ready := p.Ready(); !ok || r.ready != ready {
				since := now
				if !ok && ready {
					// Ready before this leader looked: since its start.
					since = p.Status.StartedAt
				}
				u.readiness[p.UID] = readiness{ready, since}
			}
		}
	}
	for uid := range u.readiness {
		if !seen[uid] {
			delete(u.readiness, uid)
		}
	}
}

// syncAll syncs every autoscaler and forgets the history of deleted ones.
func (u *autoscalerUnit) syncAll(ctx context.Context) {
	st := u.store.State()
	u.trackReadiness(st)
	live := map[string]bool{}
	for _, o := range st.Objects(cluster.KindHorizontalPodAutoscaler, "") {
		if o.Autoscaler == nil {
			continue
		}
		live[o.UID] = true
		if err := u.sync(ctx, st, o); err != nil && ctx.Err() == nil {
			u.log.Warn("autoscale", "hpa", o.Namespace+"/"+o.Name, "err", err)
		}
	}
	for uid := range u.history {
		if !live[uid] {
			delete(u.history, uid)
		}
	}
}

// sync is one reconcile of one autoscaler.
func (u *autoscalerUnit) sync(ctx context.Context, st *cluster.State, o *cluster.Object) error {
	a := o.Autoscaler
	now := u.now()
	status := &cluster.AutoscalerStatus{}
	if a.Status != nil {
		status.LastScaleTime, status.Decisions = a.Status.LastScaleTime, slices.Clone(a.Status.Decisions)
	}
	var conds []cluster.AutoscalerCondition
	wl, ok := st.Workload(a.TargetKind, o.Namespace, a.TargetName)
	if !ok {
		conds = append(conds, cond("AbleToScale", false, "FailedGetScale",
			fmt.Sprintf("the HPA controller was unable to get the target's current scale: %s %s not found", a.TargetKind, a.TargetName)))
		return u.commit(ctx, o, status, conds, nil, now)
	}
	current := wl.Replicas
	status.CurrentReplicas, status.DesiredReplicas = current, current
	if current == 0 {
		conds = append(conds, cond("AbleToScale", true, "SucceededGetScale", "the HPA controller was able to get the target's current scale"),
			cond("ScalingActive", false, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero"))
		return u.commit(ctx, o, status, conds, nil, now)
	}
	proposal, metric, values, err := u.propose(ctx, st, a, wl, now)
	status.CurrentMetrics = values
	if err != nil {
		conds = append(conds, cond("AbleToScale", true, "SucceededGetScale", "the HPA controller was able to get the target's current scale"),
			cond("ScalingActive", false, "FailedGetResourceMetric", err.Error()))
		return u.commit(ctx, o, status, conds, nil, now)
	}
	h := u.history[o.UID]
	if h == nil {
		h = &autoscale.History{}
		u.history[o.UID] = h
	}
	up, down := autoscale.UpRules(a.ScaleUp), autoscale.DownRules(a.ScaleDown)
	d := h.Decide(autoscale.Args{Min: a.MinReplicas, Max: a.MaxReplicas, Current: current, Proposal: proposal,
		Metric: metricWords(metric), Up: up, Down: down, Now: now})
	status.DesiredReplicas = d.Replicas
	able := cond("AbleToScale", d.AbleToScale.Status, d.AbleToScale.Reason, d.AbleToScale.Message)
	var scaled *cluster.Workload
	if d.Replicas != current {
		scaled = wl.Clone()
		scaled.Replicas = d.Replicas
		// The FSM keeps the history: the command need not carry it.
		scaled.History, scaled.PreviousTemplate = nil, nil
		h.Record(now, current, d.Replicas, up, down)
		status.LastScaleTime = now
		status.Decisions = append(status.Decisions, cluster.AutoscalerDecision{At: now, From: current, To: d.Replicas, Reason: d.Why})
		if n := len(status.Decisions); n > cluster.MaxAutoscalerDecisions {
			status.Decisions = status.Decisions[n-cluster.MaxAutoscalerDecisions:]
		}
		able = cond("AbleToScale", true, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", d.Replicas))
		u.log.Info("autoscale", "hpa", o.Namespace+"/"+o.Name, "from", current, "to", d.Replicas, "why", d.Why)
	}
	conds = append(conds, able,
		cond("ScalingActive", true, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from "+metricWords(metric)),
		cond("ScalingLimited", d.ScalingLimit.Status, d.ScalingLimit.Reason, d.ScalingLimit.Message))
	return u.commit(ctx, o, status, conds, scaled, now)
}

func cond(typ string, ok bool, reason, msg string) cluster.AutoscalerCondition {
	s := "False"
	if ok {
		s = "True"
	}
	return cluster.AutoscalerCondition{Type: typ, Status: s, Reason: reason, Message: msg}
}

// metricWords names a metric as Kubernetes' messages do.
func metricWords(m cluster.AutoscalerMetric) string {
	switch {
	case m.Resource == cluster.GPUResource:
		return "nvidia.com/gpu utilization (percent of time busy)"
	case m.TargetType == cluster.UtilizationTarget:
		return m.Resource + " resource utilization (percentage of request)"
	}
	return m.Resource + " resource"
}

// commit writes the workload's new replicas, if any, and the status if
// it changed, in one Raft entry. The status is written only over the
// object as it was read (IfUnchanged): a user's apply meanwhile wins,
// and the next sync writes again.
func (u *autoscalerUnit) commit(ctx context.Context, o *cluster.Object, status *cluster.AutoscalerStatus, conds []cluster.AutoscalerCondition, scaled *cluster.Workload, now time.Time) error {
	var old []cluster.AutoscalerCondition
	if o.Autoscaler.Status != nil {
		old = o.Autoscaler.Status.Conditions
	}
	for i, c := range conds {
		conds[i].LastTransitionTime = now
		for _, p := range old {
			if p.Type == c.Type && p.Status == c.Status {
				conds[i].LastTransitionTime = p.LastTransitionTime
			}
		}
	}
	status.Conditions = conds
	var cmds []consensus.Command
	if scaled != nil {
		cmds = append(cmds, &consensus.PutWorkload{Workload: scaled})
	}
	if !sameStatus(o.Autoscaler.Status, status) {
		c := o.Clone()
		c.Autoscaler.Status = status
		cmds = append(cmds, &consensus.PutObjects{Objects: []*cluster.Object{c}, IfUnchanged: true})
	}
	if len(cmds) == 0 {
		return nil
	}
	res, err := u.store.Apply(ctx, cmds...)
	if err != nil {
		return fmt.Errorf("commit %s %s/%s: %w", cluster.KindHorizontalPodAutoscaler, o.Namespace, o.Name, err)
	}
	var errs []error
	for _, r := range res {
		errs = append(errs, r.Err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("commit %s %s/%s: %w", cluster.KindHorizontalPodAutoscaler, o.Namespace, o.Name, err)
	}
	return nil
}

func sameStatus(a, b *cluster.AutoscalerStatus) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
