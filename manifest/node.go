package manifest

import (
	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// K8sNode is a node as `shoal get nodes -o json|yaml` prints it: shaped
// like a Kubernetes v1 Node where Kubernetes has the field, plus what
// Shoal knows that Kubernetes does not (its Raft role, every GPU, what is
// allocated). It is its own type rather than corev1.Node because a
// corev1.Node cannot carry those extra fields.
type K8sNode struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       K8sNodeSpec       `json:"spec"`
	Status     K8sNodeStatus     `json:"status"`
}

// K8sNodeSpec mirrors the part of corev1.NodeSpec that Shoal has.
type K8sNodeSpec struct {
	PodCIDR       string         `json:"podCIDR,omitempty"`
	PodCIDRs      []string       `json:"podCIDRs,omitempty"`
	Unschedulable bool           `json:"unschedulable,omitempty"`
	Taints        []corev1.Taint `json:"taints,omitempty"`
}

// K8sNodeStatus mirrors corev1.NodeStatus, plus raft, gpus and allocated.
type K8sNodeStatus struct {
	Capacity    corev1.ResourceList    `json:"capacity,omitempty"`
	Allocatable corev1.ResourceList    `json:"allocatable,omitempty"`
	Addresses   []corev1.NodeAddress   `json:"addresses,omitempty"`
	Conditions  []corev1.NodeCondition `json:"conditions,omitempty"`
	NodeInfo    K8sNodeInfo            `json:"nodeInfo"`
	// Raft is leader, voter or nonvoter ("" if the node is not a member).
	Raft string `json:"raft,omitempty"`
	// Allocated is what the node's pods request, and how many pods hold it.
	Allocated corev1.ResourceList `json:"allocated,omitempty"`
	Pods      int                 `json:"pods"`
	GPUs      []K8sGPU            `json:"gpus,omitempty"`
}

// K8sNodeInfo is corev1.NodeSystemInfo's one field Shoal knows.
type K8sNodeInfo struct {
	AgentVersion string `json:"agentVersion,omitempty"`
}

// K8sGPU is one GPU of a node and the pod holding it, if any.
type K8sGPU struct {
	Index  int                `json:"index"`
	UUID   string             `json:"uuid,omitempty"`
	Model  string             `json:"model,omitempty"`
	Memory *resource.Quantity `json:"memory,omitempty"`
	MIG    bool               `json:"mig,omitempty"`
	// Pod is the "namespace/name" of the pod holding the GPU.
	Pod string `json:"pod,omitempty"`
}

// NodeToK8s writes a node and its usage (cluster.UsageOf its pods). The
// result is a *K8sNode; the return type is any so that callers treat every
// encoder's output alike.
func NodeToK8s(n *cluster.Node, usage cluster.NodeUsage) any {
	out := &K8sNode{
		APIVersion: "v1", Kind: "Node",
		Metadata: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels},
		Spec:     K8sNodeSpec{PodCIDR: n.PodCIDR, Unschedulable: n.Unschedulable},
		Status: K8sNodeStatus{
			Capacity:    nodeResources(n.Capacity),
			Allocatable: nodeResources(n.Allocatable),
			Raft:        n.Raft,
			Allocated:   nodeResources(usage.Requested),
			Pods:        usage.Pods,
			NodeInfo:    K8sNodeInfo{AgentVersion: n.AgentVersion},
		},
	}
	for _, t := range n.Taints {
		out.Spec.Taints = append(out.Spec.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	if n.PodCIDR != "" {
		out.Spec.PodCIDRs = []string{n.PodCIDR}
	}
	if n.Address != "" {
		out.Status.Addresses = append(out.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: n.Address})
	}
	out.Status.Addresses = append(out.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: n.Name})
	cond := corev1.NodeCondition{Type: corev1.NodeReady}
	switch n.Status {
	case cluster.NodeReady:
		cond.Status, cond.Reason, cond.Message = corev1.ConditionTrue, "AgentReady", "shoal agent is alive"
	case cluster.NodeNotReady:
		cond.Status, cond.Reason, cond.Message = corev1.ConditionUnknown, "NodeStatusUnknown", "shoal agent is suspected dead or not heard from, or its container runtime is not ready"
	default:
		cond.Status, cond.Reason, cond.Message = corev1.ConditionFalse, "NodeDown", "shoal agent is dead"
	}
	out.Status.Conditions = []corev1.NodeCondition{cond}
	for _, g := range n.GPUs {
		kg := K8sGPU{Index: g.Index, UUID: g.UUID, Model: g.Model, MIG: g.MIG, Pod: usage.GPUs[g.ID()]}
		if g.MemoryBytes != 0 {
			kg.Memory = resource.NewQuantity(g.MemoryBytes, resource.BinarySI)
		}
		out.Status.GPUs = append(out.Status.GPUs, kg)
	}
	return out
}

// nodeResources writes a node's resources with every name present (a
// node with no GPUs has nvidia.com/gpu: 0, as a scheduler reads it).
func nodeResources(r cluster.Resources) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(cluster.FormatMilliCPU(r.MilliCPU)),
		corev1.ResourceMemory:           resource.MustParse(cluster.FormatBytes(r.Memory)),
		corev1.ResourceEphemeralStorage: resource.MustParse(cluster.FormatBytes(r.EphemeralStorage)),
		cluster.ResourceGPU:             *resource.NewQuantity(r.GPU, resource.DecimalSI),
	}
}
