package main

import (
	"bytes"
	"strings"
	"testing"

	"shoal/agent/api"
	"shoal/cluster"
)

func podMetrics(ns, name string, containers ...string) api.PodMetrics {
	p := api.PodMetrics{Kind: api.KindPodMetrics, APIVersion: api.MetricsAPIVersion, Metadata: api.MetricsMeta{Namespace: ns, Name: name}, Window: "10s"}
	for _, c := range containers {
		f := strings.Split(c, "=")
		u := strings.Split(f[1], ",")
		p.Containers = append(p.Containers, api.ContainerMetrics{Name: f[0], Usage: api.Usage{"cpu": u[0], "memory": u[1]}})
	}
	return p
}

func TestTopGolden(t *testing.T) {
	nodes := []api.NodeMetrics{
		{Metadata: api.MetricsMeta{Name: "worker-2"}, Usage: api.Usage{"cpu": "1500m", "memory": "3Gi"}},
		{Metadata: api.MetricsMeta{Name: "worker-1"}, Usage: api.Usage{"cpu": "250m", "memory": "1048576Ki"}},
		{Metadata: api.MetricsMeta{Name: "gone"}, Usage: api.Usage{"cpu": "1", "memory": "1Gi"}},
	}
	alloc := func() map[string]cluster.Resources {
		return map[string]cluster.Resources{
			"worker-1": {MilliCPU: 2000, Memory: 4 << 30},
			"worker-2": {MilliCPU: 4000, Memory: 8 << 30},
			"worker-3": {MilliCPU: 4000, Memory: 8 << 30},
		}
	}
	pods := []api.PodMetrics{
		podMetrics("default", "web-7d4f9", "app=12m,34Mi", "proxy=3m,20Mi"),
		podMetrics("default", "burn", "burn=500m,1020Ki"),
		podMetrics("kube-system", "dns", "dns=1500000n,70000Ki"),
	}
	tests := []struct {
		name string
		run  func(*bytes.Buffer) error
	}{
		{"top-nodes", func(b *bytes.Buffer) error { return printTopNodes(b, nodes, alloc(), "") }},
		{"top-nodes-sort-cpu", func(b *bytes.Buffer) error { return printTopNodes(b, nodes, alloc(), "cpu") }},
		{"top-pods", func(b *bytes.Buffer) error { return printTopPods(b, pods[:2], false, false, "") }},
		{"top-pods-all-memory", func(b *bytes.Buffer) error { return printTopPods(b, pods, true, false, "memory") }},
		{"top-pods-containers", func(b *bytes.Buffer) error { return printTopPods(b, pods[:2], false, true, "") }},
		{"top-pods-containers-all", func(b *bytes.Buffer) error { return printTopPods(b, pods, true, true, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.run(&b); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tt.name, b.Bytes())
		})
	}
}

func TestTopBadInput(t *testing.T) {
	bad := []api.PodMetrics{podMetrics("default", "x", "c=lots,1Mi")}
	if err := printTopPods(&bytes.Buffer{}, bad, false, false, ""); err == nil || !strings.Contains(err.Error(), `pod x container c: cpu "lots"`) {
		t.Errorf("err %v", err)
	}
	for _, s := range []string{"", "cpu", "memory"} {
		if err := checkSortBy(s); err != nil {
			t.Errorf("--sort-by %q: %v", s, err)
		}
	}
	if err := checkSortBy("name"); err == nil || !strings.Contains(err.Error(), "expected cpu or memory") {
		t.Errorf("--sort-by name: %v", err)
	}
}
