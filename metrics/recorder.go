package metrics

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// ContainerKey names a container of a pod on this node.
type ContainerKey struct {
	Namespace string
	Pod       string
	PodUID    string
	Container string
}

// GPUUsage is one GPU's use, read through NVML. NVML reports the whole
// device: a GPU is held by one pod at a time, so that is the pod's use.
type GPUUsage struct {
	// ID is the GPU's UUID (or index), as the pod's GPU assignment
	// names it.
	ID string `json:"id"`
	// UtilizationPercent is the share of the last sample period during
	// which a kernel ran on the GPU (NVML's gpu utilization).
	UtilizationPercent int   `json:"utilizationPercent"`
	MemoryUsedBytes    int64 `json:"memoryUsedBytes"`
	MemoryTotalBytes   int64 `json:"memoryTotalBytes"`
}

// ContainerUsage is one container's usage in a Report.
type ContainerUsage struct {
	Name  string `json:"name"`
	Usage Usage  `json:"usage"`
	// Latest is the newest sample (cumulative CPU time: Prometheus'
	// counter).
	Latest Sample `json:"latest"`
}

// PodUsage is one pod's usage: its containers' over one window.
type PodUsage struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// At is the newest container sample's time; Window the span the CPU
	// rate covers (the longest of its containers').
	At         time.Time        `json:"at"`
	Window     time.Duration    `json:"window"`
	Containers []ContainerUsage `json:"containers"`
	GPUs       []GPUUsage       `json:"gpus,omitempty"`
}

// Total is the sum of the pod's containers' usage.
func (p PodUsage) Total() Usage {
	var u Usage
	for _, c := range p.Containers {
		u = u.Add(c.Usage)
	}
	return u
}

// NodeUsage is the node's own usage (every process on the machine).
type NodeUsage struct {
	At     time.Time     `json:"at"`
	Window time.Duration `json:"window"`
	Usage  Usage         `json:"usage"`
	Latest Sample        `json:"latest"`
}

// Report is what one node knows: its own usage and its pods'. Pods
// whose containers have fewer than two samples are not in it yet.
type Report struct {
	Node string `json:"node"`
	// NodeOK is false until the node has two samples.
	NodeOK   bool       `json:"nodeOK"`
	NodeInfo NodeUsage  `json:"nodeInfo"`
	Pods     []PodUsage `json:"pods"`
}

// Recorder keeps every container's window and the node's, safe for one
// sampler and many readers at once.
type Recorder struct {
	mu         sync.Mutex
	node       string
	size       int
	nodeWin    *Window
	containers map[ContainerKey]*Window
	gpus       map[string][]GPUUsage // by pod UID
}

// NewRecorder keeps size samples per container of node.
func NewRecorder(node string, size int) *Recorder {
	return &Recorder{node: node, size: size, nodeWin: NewWindow(size), containers: map[ContainerKey]*Window{}, gpus: map[string][]GPUUsage{}}
}

// AddNode records a node sample.
func (r *Recorder) AddNode(s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodeWin.Add(s)
}

// AddContainer records a container sample.
func (r *Recorder) AddContainer(k ContainerKey, s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.containers[k]
	if w == nil {
		w = NewWindow(r.size)
		r.containers[k] = w
	}
	w.Add(s)
}

// SetGPUs records the latest GPU readings of a pod; nil forgets them.
func (r *Recorder) SetGPUs(podUID string, g []GPUUsage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(g) == 0 {
		delete(r.gpus, podUID)
		return
	}
	r.gpus[podUID] = slices.Clone(g)
}

// Retain forgets the containers keep refuses (pods gone from this node,
// containers removed), and their pods' GPU readings.
func (r *Recorder) Retain(keep func(ContainerKey) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := map[string]bool{}
	for k := range r.containers {
		if !keep(k) {
			delete(r.containers, k)
			continue
		}
		live[k.PodUID] = true
	}
	for uid := range r.gpus {
		if !live[uid] {
			delete(r.gpus, uid)
		}
	}
}

// Report is the usage over span (0: the last sampling interval), pods
// sorted by namespace and name, containers by name.
func (r *Recorder) Report(span time.Duration) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{Node: r.node}
	if u, at, win, ok := r.nodeWin.Usage(span); ok {
		latest, _ := r.nodeWin.Latest()
		rep.NodeOK = true
		rep.NodeInfo = NodeUsage{At: at, Window: win, Usage: u, Latest: latest}
	}
	pods := map[string]*PodUsage{}
	for k, w := range r.containers {
		u, at, win, ok := w.Usage(span)
		if !ok {
			continue
		}
		p := pods[k.PodUID]
		if p == nil {
			p = &PodUsage{Namespace: k.Namespace, Name: k.Pod, UID: k.PodUID, GPUs: slices.Clone(r.gpus[k.PodUID])}
			pods[k.PodUID] = p
		}
		latest, _ := w.Latest()
		p.Containers = append(p.Containers, ContainerUsage{Name: k.Container, Usage: u, Latest: latest})
		if at.After(p.At) {
			p.At = at
		}
		p.Window = max(p.Window, win)
	}
	for _, p := range pods {
		slices.SortFunc(p.Containers, func(a, b ContainerUsage) int { return cmp.Compare(a.Name, b.Name) })
		rep.Pods = append(rep.Pods, *p)
	}
	slices.SortFunc(rep.Pods, func(a, b PodUsage) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.UID, b.UID))
	})
	return rep
}
