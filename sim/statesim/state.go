package statesim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"shoal/cluster"
	"shoal/consensus"
)

// The simulated cluster's objects: nodes big enough for every pod placed
// on them, pods of a few workloads spread over the nodes.

func nodeName(i int) string { return fmt.Sprintf("node-%05d", i) }

func simNode(i int) *cluster.Node {
	return &cluster.Node{
		Name: nodeName(i), Address: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
		Capacity:    cluster.Resources{MilliCPU: 64000, Memory: 256 << 30},
		Allocatable: cluster.Resources{MilliCPU: 64000, Memory: 256 << 30},
		Labels:      map[string]string{"topology.kubernetes.io/zone": "zone-" + strconv.Itoa(i%3)},
		PodCIDR:     fmt.Sprintf("10.%d.%d.0/24", 128+i>>8&127, i&255),
		Status:      cluster.NodeReady,
	}
}

const workloads = 10

func workloadName(i int) string { return "app-" + strconv.Itoa(i%workloads) }

func simWorkload(i int, image string) *cluster.Workload {
	name := workloadName(i)
	return &cluster.Workload{
		Kind: cluster.KindDeployment, Namespace: "default", Name: name, UID: "wl-" + name,
		Replicas: 1, Selector: map[string]string{"app": name}, TemplateLabels: map[string]string{"app": name},
		Template: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: image}}},
	}
}

// simPod is pod i, placed on its node (nodes of them, round robin).
func simPod(i, nodes int) *cluster.Pod {
	name := fmt.Sprintf("%s-%07d", workloadName(i), i)
	return &cluster.Pod{
		Namespace: "default", Name: name, UID: "uid-" + name, Ordinal: -1,
		Labels: map[string]string{"app": workloadName(i)},
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "c", Image: "registry.example.com/team/app:v1.2.3",
			Requests: cluster.Resources{MilliCPU: 10, Memory: 16 << 20},
		}}},
		NodeName:  nodeName(i % nodes),
		Status:    cluster.PodStatus{Phase: cluster.PodPending},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// seed applies nodes, workloads and pods through the leader, in batches
// of about a megabyte.
func seed(ctx context.Context, l *consensus.Store, nodes, pods int) error {
	if err := apply(ctx, l, &consensus.SetConfig{Config: cluster.Config{ClusterCIDR: "10.128.0.0/9", ServiceCIDR: "172.30.0.0/16"}}); err != nil {
		return err
	}
	var cmds []consensus.Command
	for i := range nodes {
		cmds = append(cmds, &consensus.PutNode{Node: simNode(i)})
		if len(cmds) == 1000 || i == nodes-1 {
			if err := apply(ctx, l, cmds...); err != nil {
				return err
			}
			cmds = cmds[:0]
		}
	}
	for i := range workloads {
		cmds = append(cmds, &consensus.PutWorkload{Workload: simWorkload(i, "registry.example.com/team/app:v1")})
	}
	if err := apply(ctx, l, cmds...); err != nil {
		return err
	}
	const perBatch = 2000
	for start := 0; start < pods; start += perBatch {
		batch := make([]*cluster.Pod, 0, perBatch)
		for i := start; i < min(start+perBatch, pods); i++ {
			batch = append(batch, simPod(i, nodes))
		}
		if err := apply(ctx, l, &consensus.PutPods{Pods: batch}); err != nil {
			return err
		}
	}
	return nil
}

// apply applies cmds and fails on a command's own error too.
func apply(ctx context.Context, l *consensus.Store, cmds ...consensus.Command) error {
	_, err := applyIndex(ctx, l, cmds...)
	return err
}

func applyIndex(ctx context.Context, l *consensus.Store, cmds ...consensus.Command) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rs, err := l.Apply(ctx, cmds...)
	if err != nil {
		return 0, fmt.Errorf("apply %d commands: %w", len(cmds), err)
	}
	var idx uint64
	for _, r := range rs {
		if r.Err != nil {
			return 0, fmt.Errorf("apply %d commands: %w", len(cmds), r.Err)
		}
		idx = max(idx, r.Index)
	}
	return idx, nil
}

// churnPods is how many pods a node's status batch reports.
const churnPods = 3

// churnCommand is one change of the writer: most are a random node's pod
// status batch (3 of its pods change readiness), every tenth a workload's
// image.
func churnCommand(seq, nodes, pods int) consensus.Command {
	if seq%10 == 9 {
		return &consensus.PutWorkload{Workload: simWorkload(seq/10, "registry.example.com/team/app:v"+strconv.Itoa(seq))}
	}
	node := rand.N(max(min(nodes, pods), 1)) // a node with pods
	var ups []cluster.PodStatusUpdate
	for i := node; i < pods && len(ups) < churnPods; i += nodes {
		p := simPod(i, nodes)
		ups = append(ups, cluster.PodStatusUpdate{Ref: p.Ref(), Status: cluster.PodStatus{
			Phase: cluster.PodRunning, Ready: seq%2 == 0, PodIP: "10.200.0.1", HostIP: "10.0.0.1",
			Message: "churn " + strconv.Itoa(seq), StartedAt: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
		}})
	}
	return &consensus.PodStatus{Node: nodeName(node), Updates: ups}
}

// marker is the change whose spread is timed: a workload's image.
func marker(seq int) consensus.Command {
	w := simWorkload(0, "registry.example.com/team/app:marker-"+strconv.Itoa(seq))
	w.Name, w.UID = "marker", "wl-marker"
	w.Selector, w.TemplateLabels = map[string]string{"app": "marker"}, map[string]string{"app": "marker"}
	return &consensus.PutWorkload{Workload: w}
}
