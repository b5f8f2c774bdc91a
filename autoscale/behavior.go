package autoscale

import (
	"fmt"
	"math"
	"time"

	"shoal/cluster"
)

// Rules are one direction's behavior with Kubernetes' defaults filled.
type Rules struct {
	Window   time.Duration
	Select   string
	Policies []cluster.ScalingPolicy
}

// Kubernetes' default behavior: up at once, by 100% or 4 pods (the
// larger) per 15 s; down after a 300 s window, by up to 100% per 15 s.
var (
	defaultUpPolicies = []cluster.ScalingPolicy{
		{Type: cluster.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		{Type: cluster.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	}
	defaultDownPolicies = []cluster.ScalingPolicy{
		{Type: cluster.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	}
)

// DefaultDownWindow is scaleDown's default stabilization window.
const DefaultDownWindow = 300 * time.Second

// UpRules is behavior.scaleUp with the defaults filled.
func UpRules(r *cluster.ScalingRules) Rules { return fill(r, 0, defaultUpPolicies) }

// DownRules is behavior.scaleDown with the defaults filled.
func DownRules(r *cluster.ScalingRules) Rules {
	return fill(r, DefaultDownWindow, defaultDownPolicies)
}

func fill(r *cluster.ScalingRules, window time.Duration, policies []cluster.ScalingPolicy) Rules {
	out := Rules{Window: window, Select: cluster.SelectMax, Policies: policies}
	if r == nil {
		return out
	}
	if r.StabilizationWindowSeconds != nil {
		out.Window = time.Duration(*r.StabilizationWindowSeconds) * time.Second
	}
	if r.SelectPolicy != "" {
		out.Select = r.SelectPolicy
	}
	if len(r.Policies) > 0 {
		out.Policies = r.Policies
	}
	return out
}

// longest is the longest policy period: older scale events never count.
func (r Rules) longest() time.Duration {
	var d time.Duration
	for _, p := range r.Policies {
		d = max(d, time.Duration(p.PeriodSeconds)*time.Second)
	}
	return d
}

// History is what one autoscaler's controller remembers between syncs:
// the unstabilized recommendations and the changes it made. It lives on
// the leader, in memory, as in Kubernetes' controller: a new leader
// starts afresh.
type History struct {
	Recommendations []Recommendation
	Up, Down        []ScaleEvent
}

// Recommendation is one sync's proposal before stabilization.
type Recommendation struct {
	At       time.Time
	Replicas int32
}

// ScaleEvent is one change made (positive), up or down.
type ScaleEvent struct {
	At     time.Time
	Change int32
}

// Condition is a condition's new value: status True or False.
type Condition struct {
	Status          bool
	Reason, Message string
}

// Decision is one sync's outcome.
type Decision struct {
	Replicas int32
	// Why says, for the decision history, what made the count change.
	Why          string
	AbleToScale  Condition
	ScalingLimit Condition
}

// Args are one sync's inputs to Decide.
type Args struct {
	Min, Max int32
	Current  int32
	// Proposal is the largest of the metrics' proposals.
	Proposal int32
	// Metric names the metric that proposed it, for Why.
	Metric   string
	Up, Down Rules
	Now      time.Time
}

// Decide is Kubernetes' reconcile after the metrics: out-of-range
// current counts are brought into range at once; otherwise the proposal
// is stabilized and limited by the behavior.
func (h *History) Decide(a Args) Decision {
	switch {
	case a.Current > a.Max:
		return Decision{Replicas: a.Max, Why: fmt.Sprintf("current replicas %d above maxReplicas", a.Current),
			AbleToScale:  Condition{true, "SucceededRescale", ""},
			ScalingLimit: Condition{true, "TooManyReplicas", "the desired replica count is more than the maximum replica count"}}
	case a.Current < a.Min:
		return Decision{Replicas: a.Min, Why: fmt.Sprintf("current replicas %d below minReplicas", a.Current),
			AbleToScale:  Condition{true, "SucceededRescale", ""},
			ScalingLimit: Condition{true, "TooFewReplicas", "the desired replica count is less than the minimum replica count"}}
	}
	d := Decision{}
	stable, reason, msg := h.stabilize(a)
	if stable != a.Proposal {
		d.AbleToScale = Condition{true, reason, msg}
	} else {
		d.AbleToScale = Condition{true, "ReadyForNewScale", "recommended size matches current size"}
	}
	a.Proposal = stable
	var limReason, limMsg string
	d.Replicas, limReason, limMsg = h.limit(a)
	d.ScalingLimit = Condition{d.Replicas != stable, limReason, limMsg}
	switch {
	case d.Replicas > a.Current:
		d.Why = fmt.Sprintf("%s above target", a.Metric)
	case d.Replicas < a.Current:
		d.Why = fmt.Sprintf("All metrics below target (%s)", a.Metric)
	}
	if d.ScalingLimit.Status && d.Why != "" {
		d.Why += "; " + limReason
	}
	return d
}

// stabilize is Kubernetes' stabilizeRecommendationWithBehaviors: the
// lowest proposal within the up window and the highest within the down
// window bound the recommendation; the proposal joins the history,
// replacing one older than both windows.
func (h *History) stabilize(a Args) (int32, string, string) {
	up, down := a.Proposal, a.Proposal
	upCut, downCut := a.Now.Add(-a.Up.Window), a.Now.Add(-a.Down.Window)
	old := -1
	for i, r := range h.Recommendations {
		if r.At.After(upCut) {
			up = min(up, r.Replicas)
		}
		if r.At.After(downCut) {
			down = max(down, r.Replicas)
		}
		if r.At.Before(upCut) && r.At.Before(downCut) {
			old = i
		}
	}
	rec := min(max(a.Current, up), down)
	if old >= 0 {
		h.Recommendations[old] = Recommendation{a.Now, a.Proposal}
	} else {
		h.Recommendations = append(h.Recommendations, Recommendation{a.Now, a.Proposal})
	}
	if a.Proposal >= a.Current {
		return rec, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation"
	}
	return rec, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
}

// limit is Kubernetes' convertDesiredReplicasWithBehaviorRate: the
// policies' rate and min/max.
func (h *History) limit(a Args) (int32, string, string) {
	switch {
	case a.Proposal > a.Current:
		lim := max(h.upLimit(a), a.Current)
		allowed, reason, msg := a.Max, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		if allowed > lim {
			allowed, reason, msg = lim, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if a.Proposal > allowed {
			return allowed, reason, msg
		}
	case a.Proposal < a.Current:
		lim := min(h.downLimit(a), a.Current)
		allowed, reason, msg := a.Min, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if allowed < lim {
			allowed, reason, msg = lim, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if a.Proposal < allowed {
			return allowed, reason, msg
		}
	}
	return a.Proposal, "DesiredWithinRange", "the desired count is within the acceptable range"
}

// periodStart is the replicas at the start of a policy's period.
func (h *History) periodStart(a Args, p cluster.ScalingPolicy) int32 {
	return a.Current - changed(h.Up, p.PeriodSeconds, a.Now) + changed(h.Down, p.PeriodSeconds, a.Now)
}

func changed(events []ScaleEvent, periodSeconds int32, now time.Time) int32 {
	cut := now.Add(-time.Duration(periodSeconds) * time.Second)
	var n int32
	for _, e := range events {
		if e.At.After(cut) {
			n += e.Change
		}
	}
	return n
}

func (h *History) upLimit(a Args) int32 {
	if a.Up.Select == cluster.SelectDisabled {
		return a.Current
	}
	pick, out := maxOf, int32(math.MinInt32)
	if a.Up.Select == cluster.SelectMin {
		pick, out = minOf, math.MaxInt32
	}
	for _, p := range a.Up.Policies {
		start := h.periodStart(a, p)
		proposed := start + p.Value
		if p.Type == cluster.PercentScalingPolicy {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		out = pick(out, proposed)
	}
	return out
}

func (h *History) downLimit(a Args) int32 {
	if a.Down.Select == cluster.SelectDisabled {
		return a.Current
	}
	pick, out := minOf, int32(math.MaxInt32)
	if a.Down.Select == cluster.SelectMin {
		pick, out = maxOf, math.MinInt32
	}
	for _, p := range a.Down.Policies {
		start := h.periodStart(a, p)
		proposed := start - p.Value
		if p.Type == cluster.PercentScalingPolicy {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		out = pick(out, proposed)
	}
	return out
}

// Record remembers a change made at now, and forgets the events older
// than every policy's period (Kubernetes' storeScaleEvent).
func (h *History) Record(now time.Time, from, to int32, up, down Rules) {
	h.Up = prune(h.Up, now, up.longest())
	h.Down = prune(h.Down, now, down.longest())
	switch {
	case to > from:
		h.Up = append(h.Up, ScaleEvent{now, to - from})
	case to < from:
		h.Down = append(h.Down, ScaleEvent{now, from - to})
	}
}

func prune(events []ScaleEvent, now time.Time, keep time.Duration) []ScaleEvent {
	out := events[:0]
	for _, e := range events {
		if e.At.After(now.Add(-keep)) {
			out = append(out, e)
		}
	}
	return out
}

func maxOf(a, b int32) int32 { return max(a, b) }
func minOf(a, b int32) int32 { return min(a, b) }
