package main

import (
	"shoal/agent/api"
	"shoal/cluster"
	"shoal/manifest"
)

// These turn API answers into Kubernetes-shaped objects for -o json|yaml,
// so that scripts written against kubectl's output carry over.

func nodeToK8s(v api.NodeView) any {
	return manifest.NodeToK8s(v.Node, cluster.NodeUsage{Requested: v.Requested, GPUs: v.GPUHolders, Pods: v.Pods})
}

func podToK8s(p *cluster.Pod) any { return manifest.PodToK8s(p) }

func serviceToK8s(s *cluster.Service) any { return manifest.ServiceToK8s(s) }

func workloadToK8s(v api.WorkloadView, pods []*cluster.Pod) any {
	var own []*cluster.Pod
	for _, p := range pods {
		if p.Owner != nil && p.Owner.UID == v.Workload.UID {
			own = append(own, p)
		}
	}
	if v.Status.Daemon != nil {
		return manifest.DaemonSetToK8s(v.Workload, *v.Status.Daemon)
	}
	return manifest.WorkloadToK8s(v.Workload, own)
}
