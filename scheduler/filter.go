package scheduler

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"shoal/cluster"
)

// filter is one feasibility check, after swarmkit's pipeline: it says
// whether a node can take a pod of a given shape, and how to explain a
// number of nodes that could not, in Kubernetes' words.
type filter interface {
	fits(n *nodeInfo, s *shape) bool
	explain(count int) string
}

// Static filters depend on the node and the pod's selector only, so they
// are evaluated once per selector and pass. Dynamic filters depend on what
// is already placed on the node and are evaluated per placement.
var (
	staticFilters  = []filter{readyFilter{}, cordonFilter{}, selectorFilter{}, affinityFilter{}, taintFilter{}}
	dynamicFilters = []filter{cpuFilter{}, memoryFilter{}, ephemeralStorageFilter{}, gpuFilter{}, portFilter{}}
	// The inter-pod filters (interpod.go) depend on where other pods run.
	// Kubernetes gives a node one inter-pod reason at most, the first.
	interPodFilters = []filter{podAffinityFilter{}, podAntiAffinityFilter{}, existingAntiAffinityFilter{}, spreadLabelFilter{}, spreadFilter{}}
	// allFilters fixes each filter's index in shape.counts.
	allFilters = slices.Concat(staticFilters, dynamicFilters, interPodFilters)
)

const (
	firstDynamic  = 5  // index of cpuFilter in allFilters
	firstInterPod = 10 // index of podAffinityFilter in allFilters
	numFilters    = 15
	taintIndex    = 4 // index of taintFilter in allFilters
)

// Indexes of the inter-pod filters in allFilters.
const (
	podAffinityIndex = firstInterPod + iota
	podAntiAffinityIndex
	existingAntiIndex
	spreadLabelIndex
	spreadIndex
)

type readyFilter struct{}

func (readyFilter) fits(n *nodeInfo, _ *shape) bool { return n.node.Status == cluster.NodeReady }
func (readyFilter) explain(c int) string            { return strconv.Itoa(c) + " node(s) were not ready" }

type cordonFilter struct{}

func (cordonFilter) fits(n *nodeInfo, _ *shape) bool { return !n.node.Unschedulable }
func (cordonFilter) explain(c int) string            { return strconv.Itoa(c) + " node(s) were unschedulable" }

type selectorFilter struct{}

// fits: every key=value of the pod's nodeSelector is among the node's
// labels (an empty selector matches every node, unlike a Service's).
func (selectorFilter) fits(n *nodeInfo, s *shape) bool {
	for k, v := range s.selector {
		if lv, ok := n.node.Labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}
func (selectorFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) didn't match node selector"
}

// affinityFilter applies the required node affinity terms.
type affinityFilter struct{}

func (affinityFilter) fits(n *nodeInfo, s *shape) bool { return s.affinity.RequiredMatch(n.node) }
func (affinityFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) didn't match Pod's node affinity"
}

// taintFilter keeps pods off nodes with a NoSchedule or NoExecute taint
// they do not tolerate. Its message names the taint, so it is explained by
// staticSet.taints rather than by a count.
type taintFilter struct{}

func (taintFilter) fits(n *nodeInfo, s *shape) bool {
	_, bad := cluster.Untolerated(n.node.SchedulingTaints(), s.tolerations, cluster.TaintNoSchedule, cluster.TaintNoExecute)
	return !bad
}
func (taintFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) had untolerated taint"
}

type cpuFilter struct{}

func (cpuFilter) fits(n *nodeInfo, s *shape) bool { return s.req.MilliCPU <= n.free.MilliCPU }
func (cpuFilter) explain(c int) string            { return strconv.Itoa(c) + " insufficient cpu" }

type memoryFilter struct{}

func (memoryFilter) fits(n *nodeInfo, s *shape) bool { return s.req.Memory <= n.free.Memory }
func (memoryFilter) explain(c int) string            { return strconv.Itoa(c) + " insufficient memory" }

type ephemeralStorageFilter struct{}

func (ephemeralStorageFilter) fits(n *nodeInfo, s *shape) bool {
	return s.req.EphemeralStorage <= n.free.EphemeralStorage
}
func (ephemeralStorageFilter) explain(c int) string {
	return strconv.Itoa(c) + " insufficient " + cluster.ResourceEphemeralStorage
}

// gpuFilter needs both the allocatable count and enough unclaimed GPU IDs:
// a GPU held by a pod is claimed by ID, not just counted.
type gpuFilter struct{}

func (gpuFilter) fits(n *nodeInfo, s *shape) bool {
	return s.req.GPU <= n.free.GPU && int(s.req.GPU) <= len(n.gpus)
}
func (gpuFilter) explain(c int) string {
	return strconv.Itoa(c) + " insufficient " + cluster.ResourceGPU
}

// portFilter refuses a node where another pod already publishes one of the
// pod's host ports (same protocol; any host IP is taken to conflict, the
// conservative reading).
type portFilter struct{}

func (portFilter) fits(n *nodeInfo, s *shape) bool {
	for _, hp := range s.ports {
		if n.ports[hp] {
			return false
		}
	}
	return true
}
func (portFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) didn't have free ports for the requested pod ports"
}

// podAffinityFilter applies the required pod affinity terms. It is not
// monotonic (a node passes once a selected pod lands nearby), so it is
// checked per placement and never drops a node for the pass.
type podAffinityFilter struct{}

func (podAffinityFilter) fits(n *nodeInfo, s *shape) bool { return s.rules.affinityFits(n.idx) }
func (podAffinityFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) didn't match pod affinity rules"
}

// podAntiAffinityFilter applies the pod's required anti-affinity terms.
type podAntiAffinityFilter struct{}

func (podAntiAffinityFilter) fits(n *nodeInfo, s *shape) bool { return s.rules.antiFits(n.idx) }
func (podAntiAffinityFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) didn't match pod anti-affinity rules"
}

// existingAntiAffinityFilter applies the required anti-affinity terms of
// the pods already placed: they keep matching pods away too.
type existingAntiAffinityFilter struct{}

func (existingAntiAffinityFilter) fits(n *nodeInfo, s *shape) bool {
	return s.rules.existingFits(n.idx)
}
func (existingAntiAffinityFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) didn't satisfy existing pods anti-affinity rules"
}

// spreadLabelFilter refuses nodes without a DoNotSchedule constraint's
// topology key.
type spreadLabelFilter struct{}

func (spreadLabelFilter) fits(n *nodeInfo, s *shape) bool { return s.rules.spreadLabelFits(n.idx) }
func (spreadLabelFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) didn't match pod topology spread constraints (missing required label)"
}

// spreadFilter applies the DoNotSchedule constraints' maxSkew; like pod
// affinity it is checked per placement.
type spreadFilter struct{}

func (spreadFilter) fits(n *nodeInfo, s *shape) bool { return s.rules.spreadFits(n.idx) }
func (spreadFilter) explain(c int) string {
	return strconv.Itoa(c) + " node(s) didn't match pod topology spread constraints"
}

// explain turns per-filter failure counts into the pod's pending message:
// "0/3 nodes are available: 2 insufficient cpu, 1 node(s) didn't match
// node selector" (most frequent reason first).
func explain(total int, counts *[numFilters]int, taints []taintCount) string {
	if total == 0 {
		return "0/0 nodes are available: no nodes registered"
	}
	type part struct {
		n   int
		msg string
	}
	parts := make([]part, 0, numFilters)
	for i, c := range counts {
		switch {
		case i == taintIndex:
			// As Kubernetes: one part per taint, "2 node(s) had
			// untolerated taint {gpu: true}".
			for _, tc := range taints {
				parts = append(parts, part{tc.n, strconv.Itoa(tc.n) + " node(s) had untolerated taint " + tc.taint})
			}
		case c > 0:
			parts = append(parts, part{c, allFilters[i].explain(c)})
		}
	}
	slices.SortStableFunc(parts, func(a, b part) int { return cmp.Compare(b.n, a.n) })
	msgs := make([]string, len(parts))
	for i, p := range parts {
		msgs[i] = p.msg
	}
	return "0/" + strconv.Itoa(total) + " nodes are available: " + strings.Join(msgs, ", ")
}

// taintCount is how many nodes a taint kept a shape off.
type taintCount struct {
	taint string
	n     int
}

// countTaint adds one node kept off by taint t.
func countTaint(tcs []taintCount, t cluster.Taint) []taintCount {
	key := t.String()
	for i := range tcs {
		if tcs[i].taint == key {
			tcs[i].n++
			return tcs
		}
	}
	return append(tcs, taintCount{taint: key, n: 1})
}
