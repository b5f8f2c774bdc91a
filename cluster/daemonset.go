package cluster

// ShouldRunDaemon reports whether node n should run a pod of a DaemonSet
// whose pod template is spec. It is the one place that decides it (the
// scheduler, status and describe ask it), so that placement rules such as
// taints and node affinity extend it. Cordoned nodes still run daemon
// pods: they tolerate node.kubernetes.io/unschedulable, as in Kubernetes.
// Readiness and room are not asked here: a node that qualifies keeps its
// pod while NotReady or Down, and a pod without room stays Pending with the
// reason.
func ShouldRunDaemon(n *Node, spec *PodSpec) bool {
	return daemonFits(n, spec, TaintNoSchedule, TaintNoExecute)
}

// ShouldKeepDaemon reports whether a daemon pod already on node n may stay:
// as in Kubernetes, a NoSchedule taint keeps new daemon pods off a node but
// leaves the one it runs; only an untolerated NoExecute taint (or a node
// that stopped matching) takes it away.
func ShouldKeepDaemon(n *Node, spec *PodSpec) bool {
	return daemonFits(n, spec, TaintNoExecute)
}

func daemonFits(n *Node, spec *PodSpec, effects ...TaintEffect) bool {
	for k, v := range spec.NodeSelector {
		if lv, ok := n.Labels[k]; !ok || lv != v {
			return false
		}
	}
	if spec.Affinity != nil && spec.Affinity.NodeAffinity != nil && !spec.Affinity.NodeAffinity.RequiredMatch(n) {
		return false
	}
	// As Kubernetes' DaemonSet controller: a node whose taints the pod
	// does not tolerate gets no daemon pod.
	_, untolerated := Untolerated(n.Taints, spec.Tolerations, effects...)
	return !untolerated
}

// DaemonCounts is a DaemonSet's status in nodes, as Kubernetes counts it.
type DaemonCounts struct {
	// Desired is the nodes that should run the pod.
	Desired int32 `json:"desiredNumberScheduled"`
	// Current is the nodes running a pod of the set (any template),
	// Ready those where one is ready, Updated those running the current
	// template, Available those where a current-template pod is ready.
	Current   int32 `json:"currentNumberScheduled"`
	Ready     int32 `json:"numberReady"`
	Updated   int32 `json:"updatedNumberScheduled"`
	Available int32 `json:"numberAvailable"`
}

// CountDaemons counts w's pods per node; pods of other owners are skipped.
// desired is the number of nodes that should run the pod (see
// ShouldRunDaemon).
func CountDaemons(w *Workload, pods []*Pod, desired int32) DaemonCounts {
	c := DaemonCounts{Desired: desired}
	type seen struct{ any, ready, updated, available bool }
	nodes := map[string]*seen{}
	for _, p := range pods {
		if p.Terminating || p.NodeName == "" || p.Owner == nil || p.Owner.UID != w.UID {
			continue
		}
		s := nodes[p.NodeName]
		if s == nil {
			s = &seen{}
			nodes[p.NodeName] = s
		}
		cur := p.TemplateHash == w.TemplateHash
		s.any = true
		s.ready = s.ready || p.Ready()
		s.updated = s.updated || cur
		s.available = s.available || (cur && w.PodAvailable(p))
	}
	for _, s := range nodes {
		c.Current++
		c.Ready += b2i(s.ready)
		c.Updated += b2i(s.updated)
		c.Available += b2i(s.available)
	}
	return c
}

// DesiredDaemons counts the nodes that should run a pod of w.
func DesiredDaemons(w *Workload, nodes []*Node) int32 {
	var n int32
	for _, node := range nodes {
		if ShouldRunDaemon(node, &w.Template) {
			n++
		}
	}
	return n
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
