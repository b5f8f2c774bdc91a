package cluster

import "slices"

// NodeStatus is what the cluster knows of a node's health.
type NodeStatus string

// Node statuses, as `shoal get nodes` shows them.
const (
	NodeReady    NodeStatus = "Ready"
	NodeNotReady NodeStatus = "NotReady" // suspected by gossip, not heard from, or its container runtime is not ready
	NodeDown     NodeStatus = "Down"     // dead for longer than the grace period
)

// Raft roles of a node, as reported in `.status.raft`.
const (
	RaftLeader   = "leader"
	RaftVoter    = "voter"
	RaftNonvoter = "nonvoter"
	// RaftClient: not a Raft member; the agent follows the state stream.
	RaftClient = "client"
)

// CountRaftRoles counts the voters (the leader among them), the
// non-voting replicas and the clients among nodes' Raft roles; an unknown
// role counts nowhere.
func CountRaftRoles(roles ...string) (voters, replicas, clients int) {
	for _, r := range roles {
		switch r {
		case RaftLeader, RaftVoter:
			voters++
		case RaftNonvoter:
			replicas++
		case RaftClient:
			clients++
		}
	}
	return voters, replicas, clients
}

// Node is one server running `shoal agent`.
type Node struct {
	Name string `json:"name"`
	// Address is the node's advertised IP; pods of other nodes route to
	// this node's PodCIDR through it.
	Address    string            `json:"address,omitempty"`
	APIAddr    string            `json:"apiAddr,omitempty"`
	RaftAddr   string            `json:"raftAddr,omitempty"`
	GossipAddr string            `json:"gossipAddr,omitempty"`
	DNSAddr    string            `json:"dnsAddr,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Capacity is what the machine has; Allocatable what pods may request.
	Capacity    Resources `json:"capacity"`
	Allocatable Resources `json:"allocatable"`
	GPUs        []GPU     `json:"gpus,omitempty"`
	PodCIDR     string    `json:"podCIDR,omitempty"`
	// Unschedulable is set by cordon and drain.
	Unschedulable bool `json:"unschedulable,omitempty"`
	// Taints are set by `shoal taint node`; they outlive re-registration.
	Taints []Taint    `json:"taints,omitempty"`
	Status NodeStatus `json:"status,omitempty"`
	// DiskPressure: the node's data dir is below its reserve (as gossip
	// says). It acts as the taint Kubernetes' node lifecycle puts on such
	// a node (SchedulingTaints): no new pod that does not tolerate it is
	// placed there, and those running stay.
	DiskPressure bool   `json:"diskPressure,omitempty"`
	Raft         string `json:"raft,omitempty"`
	// AgentVersion is the shoal version the node runs.
	AgentVersion string `json:"agentVersion,omitempty"`

	CreateIndex uint64 `json:"createIndex,omitempty"`
	ModifyIndex uint64 `json:"modifyIndex,omitempty"`
}

// GPU is one NVIDIA GPU of a node. UUID identifies it when NVML found it;
// a GPU advertised with --capacity has only an Index.
type GPU struct {
	Index       int    `json:"index"`
	UUID        string `json:"uuid,omitempty"`
	Model       string `json:"model,omitempty"`
	MemoryBytes int64  `json:"memoryBytes,omitempty"`
	MIG         bool   `json:"mig,omitempty"`
}

// ID is the name a container runtime knows the GPU by: its UUID, or its
// index when NVML did not report one.
func (g GPU) ID() string {
	if g.UUID != "" {
		return g.UUID
	}
	return itoa(g.Index)
}

// Clone returns a deep copy of n.
func (n *Node) Clone() *Node {
	c := *n
	c.Labels = cloneMap(n.Labels)
	c.GPUs = slices.Clone(n.GPUs)
	c.Taints = slices.Clone(n.Taints)
	return &c
}

// TaintDiskPressure is the taint a node under DiskPressure carries for
// scheduling, as in Kubernetes.
const TaintDiskPressure = "node.kubernetes.io/disk-pressure"

// SchedulingTaints returns the taints placement heeds: n's own, and the
// NoSchedule disk-pressure taint while n is under DiskPressure. DaemonSet
// pods tolerate the latter, as in Kubernetes, so ShouldRunDaemon reads
// only n.Taints.
func (n *Node) SchedulingTaints() []Taint {
	if !n.DiskPressure {
		return n.Taints
	}
	return append(slices.Clip(n.Taints), Taint{Key: TaintDiskPressure, Effect: TaintNoSchedule})
}

// Schedulable reports whether new pods may be placed on n.
func (n *Node) Schedulable() bool {
	return !n.Unschedulable && n.Status == NodeReady
}
