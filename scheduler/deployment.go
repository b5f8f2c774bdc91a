package scheduler

import (
	"slices"
	"strconv"
	"strings"

	"shoal/cluster"
)

// Deployment strategies.
const (
	strategyRecreate = "Recreate"
	defaultSurge     = "25%"
)

// deployment converges one Deployment towards Replicas pods of its current
// template, following Kubernetes' rolling-update arithmetic.
func (p *pass) deployment(w *cluster.Workload) {
	var cur, old []*cluster.Pod
	for _, pod := range p.ownedBy(w.UID) {
		if pod.Terminating {
			continue // on its way out; not counted, as in Kubernetes
		}
		// A Deployment pod is replaced anywhere: one on a dead node or one
		// that has ended stops counting at once and a new one is made.
		if p.lost(pod) || finished(pod) {
			p.stop(pod)
			continue
		}
		if pod.TemplateHash == w.TemplateHash {
			cur = append(cur, pod)
		} else {
			old = append(old, pod)
		}
	}
	desired := max(int(w.Replicas), 0)

	if w.Strategy == strategyRecreate {
		for _, pod := range old {
			p.stop(pod)
		}
		// New pods only once every old one has left the state: Recreate
		// promises that old and new never run side by side. A pod on a dead
		// node is the exception, as for every Deployment pod: it may never
		// report back, and waiting for it would stall the rollout.
		for _, pod := range p.ownedBy(w.UID) {
			if pod.TemplateHash != w.TemplateHash && !p.deleted[pod] && !p.lost(pod) {
				p.stopExtra(cur, len(cur)-desired)
				return
			}
		}
		p.scale(w, cur, desired)
		return
	}
	if len(old) == 0 {
		p.scale(w, cur, desired)
		return
	}

	surge, unavailable := rollingLimits(w, desired)
	minAvailable := desired - unavailable
	// Replicas may have shrunk mid-rollout: drop surplus new pods first.
	if extra := len(cur) - desired; extra > 0 {
		cur = p.stopExtra(cur, extra)
	}
	total := len(cur) + len(old)
	if n := min(desired-len(cur), desired+surge-total); n > 0 {
		p.createDeploymentPods(w, n)
	}
	// Availability, not readiness, is what maxUnavailable keeps: with
	// minReadySeconds a pod counts once it has been ready that long.
	availCur, availOld := countAvailable(w, cur), countAvailable(w, old)
	// Old pods that are not available cost no availability; Kubernetes
	// still bounds their clean-up so that total pods never drop below the
	// minimum while new ones are unavailable.
	budget := total - minAvailable - (len(cur) - availCur)
	slices.SortFunc(old, stopOrder)
	var avail []*cluster.Pod
	for _, pod := range old {
		if w.PodAvailable(pod) {
			avail = append(avail, pod)
		} else if budget > 0 {
			p.stop(pod)
			budget--
		}
	}
	// Available old pods go only while enough pods stay available.
	for i := 0; i < len(avail) && i < availCur+availOld-minAvailable; i++ {
		p.stop(avail[i])
	}
}

// scale creates or stops pods of the current template to reach desired.
func (p *pass) scale(w *cluster.Workload, cur []*cluster.Pod, desired int) {
	if n := desired - len(cur); n > 0 {
		p.createDeploymentPods(w, n)
		return
	}
	p.stopExtra(cur, len(cur)-desired)
}

// stopExtra stops n pods of pods in stopOrder and returns the others.
func (p *pass) stopExtra(pods []*cluster.Pod, n int) []*cluster.Pod {
	if n <= 0 {
		return pods
	}
	pods = slices.Clone(pods)
	slices.SortFunc(pods, stopOrder)
	for _, pod := range pods[:n] {
		p.stop(pod)
	}
	return pods[n:]
}

// stopOrder ranks pods for scale-down as Kubernetes does: unscheduled or
// Pending first (nothing is lost), then not ready, then the newest (the
// oldest have proven themselves); the name breaks ties so that the order is
// deterministic.
func stopOrder(a, b *cluster.Pod) int {
	if c := rank(a) - rank(b); c != 0 {
		return c
	}
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

func rank(p *cluster.Pod) int {
	switch {
	case p.NodeName == "" || p.Status.Phase == "" || p.Status.Phase == cluster.PodPending:
		return 0
	case !p.Ready():
		return 1
	}
	return 2
}

// countAvailable counts the pods of w that are available (ready, for
// minReadySeconds).
func countAvailable(w *cluster.Workload, pods []*cluster.Pod) int {
	n := 0
	for _, p := range pods {
		if w.PodAvailable(p) {
			n++
		}
	}
	return n
}

// createDeploymentPods makes n pods named like Kubernetes' ReplicaSet pods:
// "<deployment>-<template hash>-<5 random characters>".
func (p *pass) createDeploymentPods(w *cluster.Workload, n int) {
	p.createPods(w, w.Name+"-"+hashPrefix(w.TemplateHash)+"-", n)
}

// createPods makes n pods of w named prefix + 5 random characters.
func (p *pass) createPods(w *cluster.Workload, prefix string, n int) {
	for range n {
		name := prefix + suffix(p.ids, 5)
		for p.taken(w.Namespace, name) {
			name = prefix + suffix(p.ids, 5)
		}
		p.create(p.newPod(w, name))
	}
}

// hashPrefix shortens a template hash to the 10 characters Kubernetes uses
// for pod-template-hash.
func hashPrefix(h string) string {
	if len(h) > 10 {
		return h[:10]
	}
	return h
}

// rollingLimits resolves maxSurge and maxUnavailable against desired:
// surge rounds up, unavailable rounds down, and if both come to zero one
// pod may be unavailable, or the rollout could never move.
func rollingLimits(w *cluster.Workload, desired int) (surge, unavailable int) {
	surge = intOrPercent(w.MaxSurge, desired, true)
	unavailable = intOrPercent(w.MaxUnavailable, desired, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, min(unavailable, desired)
}

// intOrPercent parses "3" or "25%" (empty: 25%). A malformed value, which
// manifest validation should have refused, falls back to the default.
func intOrPercent(s string, total int, roundUp bool) int {
	if s == "" {
		s = defaultSurge
	}
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.Atoi(pct)
		if err != nil || v < 0 {
			return intOrPercent("", total, roundUp)
		}
		if roundUp {
			return (v*total + 99) / 100
		}
		return v * total / 100
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return intOrPercent("", total, roundUp)
	}
	return v
}
