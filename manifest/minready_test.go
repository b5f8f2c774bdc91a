package manifest

import (
	"os"
	"testing"

	"shoal/cluster"
)

func TestMinReadySecondsDecode(t *testing.T) {
	data, err := os.ReadFile("testdata/workloads/minready.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(data, "minready.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[cluster.WorkloadKind]int32{
		cluster.KindDeployment: 10, cluster.KindStatefulSet: 5, cluster.KindDaemonSet: 3, cluster.KindReplicaSet: 7,
	}
	if len(objs) != len(want) {
		t.Fatalf("%d objects", len(objs))
	}
	for _, o := range objs {
		w := o.Workload
		if got := w.MinReadySeconds; got != want[w.Kind] {
			t.Errorf("%s: minReadySeconds %d, want %d", w.Kind, got, want[w.Kind])
		}
		// Not part of the template: changing it rolls nothing out.
		c := w.Clone()
		c.MinReadySeconds++
		if c.TemplateID() != w.TemplateID() {
			t.Errorf("%s: minReadySeconds changes the template hash", w.Kind)
		}
	}
}
