package cluster

// Plan is what the leader's scheduling loop decided in one pass; it is
// committed through Raft as one command and re-checked against the state
// at that point (a node's capacity may have changed since the decision).
type Plan struct {
	// Create adds new pods (from workloads); those with a NodeName are
	// placed at once, the others stay Pending with their SchedulingMessage.
	Create []*Pod `json:"create,omitempty"`
	// Place binds existing Pending pods to nodes.
	Place []Placement `json:"place,omitempty"`
	// Pending records why pods could not be placed.
	Pending []PendingReason `json:"pending,omitempty"`
	// Terminate asks the pods' nodes to stop them.
	Terminate []PodRef `json:"terminate,omitempty"`
	// Delete removes pods from the state: unplaced ones, and terminating
	// ones whose node reported them stopped or is gone for good.
	Delete []PodRef `json:"delete,omitempty"`
	// Jobs are new Job statuses; DeleteJobs are finished Jobs whose
	// ttlSecondsAfterFinished has passed (their pods go as orphans).
	Jobs       []JobStatusUpdate `json:"jobs,omitempty"`
	DeleteJobs []PodRef          `json:"deleteJobs,omitempty"`
	// CronRuns are the Jobs CronJobs start now.
	CronRuns []CronRun `json:"cronRuns,omitempty"`
	// DeleteClaims are terminating PersistentVolumeClaims no pod holds any
	// more: they go, and their data with them.
	DeleteClaims []ClaimRef `json:"deleteClaims,omitempty"`
	// Readiness are the leader's availability stamps (minReadySeconds).
	Readiness []PodReadiness `json:"readiness,omitempty"`
	// Resize admits in-place resizes of placed pods; ResizePending
	// records why others wait (or that they no longer do).
	Resize        []PodResize           `json:"resize,omitempty"`
	ResizePending []ResizePendingUpdate `json:"resizePending,omitempty"`
}

// ClaimRef names one PersistentVolumeClaim; the UID guards against
// deleting a newer claim of the same name.
type ClaimRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Empty reports whether p changes nothing.
func (p *Plan) Empty() bool {
	return len(p.Create) == 0 && len(p.Place) == 0 && len(p.Pending) == 0 &&
		len(p.Terminate) == 0 && len(p.Delete) == 0 && len(p.Jobs) == 0 && len(p.DeleteJobs) == 0 &&
		len(p.CronRuns) == 0 && len(p.DeleteClaims) == 0 && len(p.Readiness) == 0 &&
		len(p.Resize) == 0 && len(p.ResizePending) == 0
}

// PodRef names one pod; the UID guards against acting on a newer pod of the
// same name.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Ref returns p's PodRef.
func (p *Pod) Ref() PodRef { return PodRef{Namespace: p.Namespace, Name: p.Name, UID: p.UID} }

// PodStatusUpdate is what a node saw of one pod. The UID in Ref keeps a
// late update from landing on a newer pod of the same name. The node
// reconciler reports it, the API carries it and the FSM applies it.
type PodStatusUpdate struct {
	Ref    PodRef    `json:"ref"`
	Status PodStatus `json:"status"`
}

// Placement binds a pod to a node and, when it asks for GPUs, to specific
// GPUs of that node.
type Placement struct {
	Pod  PodRef   `json:"pod"`
	Node string   `json:"node"`
	GPUs []string `json:"gpus,omitempty"`
	// VolumeFrom is set when a StatefulSet pod goes to another node than
	// the one holding its claim data: that (cordoned, Ready) node, from
	// which the data is copied.
	VolumeFrom string `json:"volumeFrom,omitempty"`
}

// PendingReason says why a pod is not placed.
type PendingReason struct {
	Pod     PodRef `json:"pod"`
	Message string `json:"message"`
}

// Holds reports whether a pod still holds node resources: it is placed and
// its node has not reported it stopped or finished.
func (p *Pod) Holds() bool {
	if p.NodeName == "" || p.Status.Stopped {
		return false
	}
	if !p.Terminating && (p.Status.Phase == PodSucceeded || p.Status.Phase == PodFailed) {
		return false
	}
	return true
}

// NodeUsage is what the pods on one node hold.
type NodeUsage struct {
	Requested Resources
	// GPUs maps each held GPU ID to the key of the pod holding it.
	GPUs map[string]string
	Pods int
}

// UsageOf sums the resources held by pods (all on one node).
func UsageOf(pods []*Pod) NodeUsage {
	u := NodeUsage{GPUs: map[string]string{}}
	for _, p := range pods {
		if !p.Holds() {
			continue
		}
		u.Pods++
		u.Requested = u.Requested.Add(p.Spec.Requests())
		for _, g := range p.GPUs {
			u.GPUs[g] = p.Key()
		}
	}
	return u
}
