package autoscale

import (
	"testing"
	"time"

	"shoal/cluster"
)

func pol(typ string, v, period int32) cluster.ScalingPolicy {
	return cluster.ScalingPolicy{Type: typ, Value: v, PeriodSeconds: period}
}

func secs(s int32) *int32 { return &s }

// Cases after Kubernetes' TestScalingWithRules (horizontal_test.go): the
// rate limits of the policies, with and without earlier events.
func TestDecideRate(t *testing.T) {
	noWindow := &cluster.ScalingRules{StabilizationWindowSeconds: secs(0)}
	cases := []struct {
		name                    string
		min, max, current, want int32
		proposal                int32
		up, down                *cluster.ScalingRules
		upEvents, downEvents    []ScaleEvent
		wantReason              string
	}{
		{name: "scaleUp with default behavior", min: 1, max: 1000, current: 10, proposal: 50, want: 20, down: noWindow, wantReason: "ScaleUpLimit"},
		{name: "scaleUp with default behavior, few pods", min: 1, max: 1000, current: 1, proposal: 50, want: 5, down: noWindow, wantReason: "ScaleUpLimit"},
		{name: "scaleUp with pods policy larger than percent policy", min: 1, max: 1000, current: 10, proposal: 500, want: 110,
			up: &cluster.ScalingRules{Policies: []cluster.ScalingPolicy{pol("Pods", 100, 60), pol("Percent", 100, 60)}}, down: noWindow, wantReason: "ScaleUpLimit"},
		{name: "scaleUp with percent policy larger than pods policy", min: 1, max: 1000, current: 10, proposal: 500, want: 20,
			up: &cluster.ScalingRules{Policies: []cluster.ScalingPolicy{pol("Pods", 2, 60), pol("Percent", 100, 60)}}, down: noWindow, wantReason: "ScaleUpLimit"},
		{name: "scaleUp with spec MaxReplicas limitation with large pod policy", min: 1, max: 30, current: 10, proposal: 50, want: 30,
			up: &cluster.ScalingRules{Policies: []cluster.ScalingPolicy{pol("Pods", 100, 60)}}, down: noWindow, wantReason: "TooManyReplicas"},
		{name: "scaleUp with selectPolicy Min", min: 1, max: 1000, current: 10, proposal: 50, want: 14,
			up: &cluster.ScalingRules{SelectPolicy: "Min", Policies: []cluster.ScalingPolicy{pol("Pods", 4, 60), pol("Percent", 100, 60)}}, down: noWindow, wantReason: "ScaleUpLimit"},
		{name: "scaleUp disabled", min: 1, max: 1000, current: 10, proposal: 50, want: 10,
			up: &cluster.ScalingRules{SelectPolicy: "Disabled"}, down: noWindow, wantReason: "ScaleUpLimit"},
		{name: "scaleUp with pods policy and previous events", min: 1, max: 1000, current: 10, proposal: 50, want: 12,
			up:       &cluster.ScalingRules{Policies: []cluster.ScalingPolicy{pol("Pods", 4, 60)}},
			upEvents: []ScaleEvent{{t0.Add(-30 * time.Second), 2}}, down: noWindow, wantReason: "ScaleUpLimit"},
		{name: "scaleUp with events outside the period", min: 1, max: 1000, current: 10, proposal: 50, want: 14,
			up:       &cluster.ScalingRules{Policies: []cluster.ScalingPolicy{pol("Pods", 4, 60)}},
			upEvents: []ScaleEvent{{t0.Add(-90 * time.Second), 2}}, down: noWindow, wantReason: "ScaleUpLimit"},
		{name: "scaleUp within range", min: 1, max: 1000, current: 10, proposal: 13, want: 13, down: noWindow, wantReason: "DesiredWithinRange"},
		{name: "scaleDown with default policy", min: 1, max: 1000, current: 100, proposal: 2, want: 2, down: noWindow, wantReason: "DesiredWithinRange"},
		{name: "scaleDown below minReplicas", min: 5, max: 1000, current: 100, proposal: 2, want: 5, down: noWindow, wantReason: "TooFewReplicas"},
		{name: "scaleDown with pods policy larger than percent policy", min: 1, max: 1000, current: 100, proposal: 2, want: 80,
			down: &cluster.ScalingRules{StabilizationWindowSeconds: secs(0), Policies: []cluster.ScalingPolicy{pol("Pods", 20, 60), pol("Percent", 1, 60)}}, wantReason: "ScaleDownLimit"},
		{name: "scaleDown with percent policy larger than pods policy", min: 1, max: 1000, current: 100, proposal: 2, want: 50,
			down: &cluster.ScalingRules{StabilizationWindowSeconds: secs(0), Policies: []cluster.ScalingPolicy{pol("Pods", 2, 60), pol("Percent", 50, 60)}}, wantReason: "ScaleDownLimit"},
		{name: "scaleDown with selectPolicy Min", min: 1, max: 1000, current: 100, proposal: 2, want: 98,
			down: &cluster.ScalingRules{StabilizationWindowSeconds: secs(0), SelectPolicy: "Min", Policies: []cluster.ScalingPolicy{pol("Pods", 2, 60), pol("Percent", 50, 60)}}, wantReason: "ScaleDownLimit"},
		{name: "scaleDown disabled", min: 1, max: 1000, current: 100, proposal: 2, want: 100,
			down: &cluster.ScalingRules{StabilizationWindowSeconds: secs(0), SelectPolicy: "Disabled"}, wantReason: "ScaleDownLimit"},
		{name: "scaleDown with previous events", min: 1, max: 1000, current: 10, proposal: 2, want: 8,
			down:       &cluster.ScalingRules{StabilizationWindowSeconds: secs(0), Policies: []cluster.ScalingPolicy{pol("Pods", 4, 60)}},
			downEvents: []ScaleEvent{{t0.Add(-10 * time.Second), 2}}, wantReason: "ScaleDownLimit"},
		{name: "current above max", min: 1, max: 5, current: 8, proposal: 8, want: 5, down: noWindow, wantReason: "TooManyReplicas"},
		{name: "current below min", min: 3, max: 5, current: 1, proposal: 1, want: 3, down: noWindow, wantReason: "TooFewReplicas"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &History{Up: c.upEvents, Down: c.downEvents}
			d := h.Decide(Args{Min: c.min, Max: c.max, Current: c.current, Proposal: c.proposal, Metric: "cpu",
				Up: UpRules(c.up), Down: DownRules(c.down), Now: t0})
			if d.Replicas != c.want || d.ScalingLimit.Reason != c.wantReason {
				t.Errorf("replicas %d (%s), want %d (%s)", d.Replicas, d.ScalingLimit.Reason, c.want, c.wantReason)
			}
			if d.ScalingLimit.Status != (c.wantReason != "DesiredWithinRange") {
				t.Errorf("ScalingLimited %v for %s", d.ScalingLimit.Status, c.wantReason)
			}
		})
	}
}

// Cases after Kubernetes' TestNormalizeDesiredReplicasWithBehavior: the
// stabilization windows over earlier recommendations.
func TestDecideStabilization(t *testing.T) {
	rec := func(ago time.Duration, n int32) Recommendation { return Recommendation{t0.Add(-ago), n} }
	cases := []struct {
		name             string
		recs             []Recommendation
		current, propose int32
		upWindow         int32
		downWindow       *int32
		want             int32
		wantReason       string
		wantRecs         int
	}{
		{name: "empty history, scale down at once", current: 5, propose: 3, downWindow: secs(0), want: 3, wantReason: "ReadyForNewScale", wantRecs: 1},
		{name: "scale down held by a recent higher recommendation", recs: []Recommendation{rec(10*time.Second, 8), rec(400*time.Second, 10)},
			current: 5, propose: 3, want: 5, wantReason: "ScaleDownStabilized", wantRecs: 2},
		{name: "scale down to the highest in the window", recs: []Recommendation{rec(10*time.Second, 4), rec(200*time.Second, 3)},
			current: 5, propose: 2, want: 4, wantReason: "ScaleDownStabilized", wantRecs: 3},
		{name: "scale up held by the lowest in the up window", recs: []Recommendation{rec(30*time.Second, 6)},
			current: 5, propose: 7, upWindow: 60, want: 6, wantReason: "ScaleUpStabilized", wantRecs: 2},
		{name: "old recommendations replaced", recs: []Recommendation{rec(900*time.Second, 9)},
			current: 5, propose: 3, want: 3, wantReason: "ReadyForNewScale", wantRecs: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &History{Recommendations: c.recs}
			d := h.Decide(Args{Min: 1, Max: 100, Current: c.current, Proposal: c.propose, Metric: "cpu",
				Up:   UpRules(&cluster.ScalingRules{StabilizationWindowSeconds: secs(c.upWindow)}),
				Down: DownRules(&cluster.ScalingRules{StabilizationWindowSeconds: c.downWindow}), Now: t0})
			if d.Replicas != c.want || d.AbleToScale.Reason != c.wantReason {
				t.Errorf("replicas %d (%s), want %d (%s)", d.Replicas, d.AbleToScale.Reason, c.want, c.wantReason)
			}
			if len(h.Recommendations) != c.wantRecs {
				t.Errorf("%d recommendations kept, want %d", len(h.Recommendations), c.wantRecs)
			}
		})
	}
}

func TestRecord(t *testing.T) {
	h := &History{Up: []ScaleEvent{{t0.Add(-time.Hour), 3}}}
	up, down := UpRules(nil), DownRules(nil)
	h.Record(t0, 2, 5, up, down)
	h.Record(t0, 5, 4, up, down)
	h.Record(t0, 4, 4, up, down)
	if len(h.Up) != 1 || h.Up[0].Change != 3 || !h.Up[0].At.Equal(t0) || len(h.Down) != 1 || h.Down[0].Change != 1 {
		t.Errorf("history %+v", h)
	}
}

func TestRulesDefaults(t *testing.T) {
	if r := UpRules(nil); r.Window != 0 || r.Select != "Max" || len(r.Policies) != 2 {
		t.Errorf("scaleUp defaults %+v", r)
	}
	if r := DownRules(&cluster.ScalingRules{SelectPolicy: "Min"}); r.Window != 300*time.Second || r.Select != "Min" || len(r.Policies) != 1 {
		t.Errorf("scaleDown defaults %+v", r)
	}
}
