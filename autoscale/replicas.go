// Package autoscale is the HorizontalPodAutoscaler's algorithm, pure:
// pods, their requests and metrics in, a replica count out (Kubernetes'
// replica calculator), then the behavior's stabilization windows and
// scaling policies over the recommendation and scale-event history
// (Kubernetes' normalization). No clock, no I/O: the caller passes now.
package autoscale

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Tolerance is how far the usage ratio may be from 1 before the
// replicas change (Kubernetes' --horizontal-pod-autoscaler-tolerance).
const Tolerance = 0.1

// Kubernetes' defaults for the CPU metric of starting pods: a sample of
// a pod within cpuInitializationPeriod of its start counts only once the
// pod is ready and a whole metric window followed its turning ready; a
// pod that has never been ready counts as unready for
// delayOfInitialReadiness.
const (
	CPUInitializationPeriod = 5 * time.Minute
	DelayOfInitialReadiness = 30 * time.Second
)

// Pod is one pod the target selects, as the calculator sees it.
type Pod struct {
	Name string
	// Gone: terminating or failed; not counted at all.
	Gone    bool
	Pending bool
	Ready   bool
	// StartedAt is when the pod started; ReadySince when it last turned
	// ready or unready (zero: unknown).
	StartedAt, ReadySince time.Time
	// Request is the sum of the containers' requests of the resource;
	// NoRequest is set when a container has none.
	Request   int64
	NoRequest bool
}

// Sample is one pod's metric: Value (millicores, bytes or percent busy)
// measured over Window ending At.
type Sample struct {
	Value  int64
	At     time.Time
	Window time.Duration
}

// Input is one Resource metric of one autoscaler.
type Input struct {
	// CPU enables the readiness rules Kubernetes applies to cpu only.
	CPU     bool
	Current int32
	Pods    []Pod
	Metrics map[string]Sample
	// TargetUtilization (percent of requests), or else TargetAverage
	// (per pod, in the metric's unit).
	TargetUtilization int32
	TargetAverage     int64
	Now               time.Time
}

// Result is the metric's proposal and what was measured.
type Result struct {
	Replicas int32
	// Utilization is the average percent of requests (utilization
	// targets only); Average the average value per pod.
	Utilization int32
	Average     int64
}

// Errors the controller reports as ScalingActive False.
var (
	ErrNoPods    = errors.New("no pods returned by selector while calculating replica count")
	ErrNoMetrics = errors.New("did not receive metrics for any ready pods")
)

// Replicas is Kubernetes' GetResourceReplicas (utilization target) and
// GetRawResourceReplicas (average value target).
func Replicas(in Input) (Result, error) {
	if len(in.Pods) == 0 {
		return Result{}, ErrNoPods
	}
	metrics := make(map[string]int64, len(in.Metrics))
	for n, s := range in.Metrics {
		metrics[n] = s.Value
	}
	ready, ignored, missing := groupPods(in)
	for _, p := range in.Pods {
		if p.Gone || ignored[p.Name] {
			delete(metrics, p.Name)
		}
	}
	requests, err := in.requests()
	if err != nil {
		return Result{}, err
	}
	in.dropUnknown(metrics)
	if len(metrics) == 0 {
		return Result{}, ErrNoMetrics
	}
	ratio, res, err := in.ratio(metrics, requests)
	if err != nil {
		return Result{}, err
	}
	rebalance := len(ignored) > 0 && ratio > 1
	if !rebalance && len(missing) == 0 {
		res.Replicas = in.Current
		if math.Abs(1-ratio) > Tolerance {
			res.Replicas = int32(math.Ceil(ratio * float64(ready)))
		}
		return res, nil
	}
	in.fillMissing(metrics, requests, missing, ratio)
	if rebalance {
		for n := range ignored {
			metrics[n] = 0
		}
	}
	newRatio, _, err := in.ratio(metrics, requests)
	if err != nil {
		return Result{}, err
	}
	res.Replicas = in.Current
	if math.Abs(1-newRatio) <= Tolerance || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		return res, nil
	}
	n := int32(math.Ceil(newRatio * float64(len(metrics))))
	if (newRatio < 1 && n > in.Current) || (newRatio > 1 && n < in.Current) {
		return res, nil
	}
	res.Replicas = n
	return res, nil
}

// requests are the pods' requests, for a utilization target.
func (in Input) requests() (map[string]int64, error) {
	requests := map[string]int64{}
	if in.TargetUtilization <= 0 {
		return requests, nil
	}
	for _, p := range in.Pods {
		if p.NoRequest {
			return nil, errors.New("missing request for the resource in a container of " + p.Name)
		}
		requests[p.Name] = p.Request
	}
	return requests, nil
}

// dropUnknown forgets the samples of pods the selector no longer picks
// (deleted since).
func (in Input) dropUnknown(metrics map[string]int64) {
	known := map[string]bool{}
	for _, p := range in.Pods {
		known[p.Name] = true
	}
	for n := range metrics {
		if !known[n] {
			delete(metrics, n)
		}
	}
}

// fillMissing gives the pods without a sample one that holds the
// change back: 100% of the request (or the target) on a scale-down,
// nothing on a scale-up.
func (in Input) fillMissing(metrics, requests map[string]int64, missing map[string]bool, ratio float64) {
	for n := range missing {
		switch {
		case ratio < 1 && in.TargetUtilization > 0:
			metrics[n] = requests[n]
		case ratio < 1:
			metrics[n] = in.TargetAverage
		case ratio > 1:
			metrics[n] = 0
		}
	}
}

// ratio is the usage over the target: Kubernetes'
// GetResourceUtilizationRatio (the utilization truncated to a whole
// percent first) or GetMetricUtilizationRatio.
func (in Input) ratio(metrics, requests map[string]int64) (float64, Result, error) {
	if in.TargetUtilization <= 0 {
		if in.TargetAverage <= 0 {
			return 0, Result{}, errors.New("the metric has no target")
		}
		var total int64
		for _, v := range metrics {
			total += v
		}
		avg := total / int64(len(metrics))
		return float64(avg) / float64(in.TargetAverage), Result{Average: avg}, nil
	}
	var total, reqTotal int64
	n := 0
	for name, v := range metrics {
		r, ok := requests[name]
		if !ok {
			continue
		}
		total += v
		reqTotal += r
		n++
	}
	if reqTotal == 0 {
		return 0, Result{}, fmt.Errorf("no metrics returned matched known pods with requests")
	}
	util := int32(total * 100 / reqTotal)
	return float64(util) / float64(in.TargetUtilization), Result{Utilization: util, Average: total / int64(n)}, nil
}

// groupPods is Kubernetes' groupPods: the ready pods' count, the unready
// pods, whose sample is ignored (pending; for cpu, not ready yet) and
// taken as 0 on a scale-up, and the pods without a sample. Gone pods
// are in none.
func groupPods(in Input) (ready int, ignored, missing map[string]bool) {
	ignored, missing = map[string]bool{}, map[string]bool{}
	for _, p := range in.Pods {
		if p.Gone {
			continue
		}
		if p.Pending {
			ignored[p.Name] = true
			continue
		}
		s, ok := in.Metrics[p.Name]
		if !ok {
			missing[p.Name] = true
			continue
		}
		if in.CPU && unreadyForCPU(p, s, in.Now) {
			ignored[p.Name] = true
			continue
		}
		ready++
	}
	return ready, ignored, missing
}

func unreadyForCPU(p Pod, s Sample, now time.Time) bool {
	if p.StartedAt.IsZero() {
		return true
	}
	if p.StartedAt.Add(CPUInitializationPeriod).After(now) {
		// Still starting: its sample counts once it is ready and a whole
		// window was measured after it turned ready.
		return !p.Ready || s.At.Before(p.ReadySince.Add(s.Window))
	}
	// Unready and never ready since its start.
	return !p.Ready && p.StartedAt.Add(DelayOfInitialReadiness).After(p.ReadySince)
}
