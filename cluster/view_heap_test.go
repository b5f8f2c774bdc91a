package cluster_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/manifest"
)

// BenchmarkViewHeap reports the live heap of a state of 20,000 pods made
// from real manifests' templates (the Kubernetes docs' examples, as
// users apply them), whole and as one node's view (its 200 pods whole,
// the others summarized), per 100,000 pods, and the view's share: what
// an agent outside Raft holds against a member.
func BenchmarkViewHeap(b *testing.B) {
	for _, file := range []string{"zookeeper.yaml", "wordpress/mysql-deployment.yaml", "guestbook/frontend-deployment.yaml"} {
		b.Run(filepath.Base(file), func(b *testing.B) {
			tmpl := templateOf(b, filepath.Join("..", "manifest", "testdata", "k8s-examples", file))
			var whole, view float64
			for b.Loop() {
				whole, view = viewHeap(tmpl, 20000, 100)
			}
			b.ReportMetric(whole*5, "whole-MiB/100k-pods")
			b.ReportMetric(view*5, "view-MiB/100k-pods")
			b.ReportMetric(view/whole, "view/whole")
		})
	}
}

// templateOf is the first workload's template in a manifest file.
func templateOf(b *testing.B, path string) *cluster.Workload {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	objs, err := manifest.Decode(data, path)
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objs {
		if o.Workload != nil {
			return o.Workload
		}
	}
	b.Fatalf("%s: no workload", path)
	return nil
}

// viewHeap builds the state of pods pods of w on nodes nodes and returns
// the live heap (MiB) it holds whole, then as node-000's view alone.
func viewHeap(w *cluster.Workload, pods, nodes int) (whole, view float64) {
	base := liveHeap()
	txn := cluster.Empty().Txn(1)
	for i := range pods {
		name := fmt.Sprintf("%s-%06d", w.Name, i)
		txn.PutPod(&cluster.Pod{
			Namespace: "default", Name: name, UID: "uid-" + name, Ordinal: -1, Labels: maps.Clone(w.TemplateLabels),
			Owner: &cluster.OwnerRef{Kind: w.Kind, Name: w.Name, UID: "wl-" + w.Name}, TemplateHash: "5d8f9c7b6",
			Spec: w.Template.Clone(), NodeName: fmt.Sprintf("node-%03d", i%nodes),
			Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true, PodIP: fmt.Sprintf("10.%d.%d.%d", 128+i>>16&127, i>>8&255, i&255),
				HostIP: "192.0.2.1", StartedAt: time.Unix(1796300000, 0), Containers: []cluster.ContainerStatus{{Name: "c", State: cluster.ContainerRunning}}},
			CreatedAt: time.Unix(1796300000, 0),
		})
	}
	st := txn.Commit()
	whole = float64(liveHeap()-base) / (1 << 20)
	v := st.View("node-000")
	st = nil
	view = float64(liveHeap()-base) / (1 << 20)
	runtime.KeepAlive(v)
	runtime.KeepAlive(st)
	return whole, view
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
