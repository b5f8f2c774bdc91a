package manifest

import (
	"reflect"
	"testing"

	"shoal/cluster"
)

// The placement test data decodes whole (TestNoSilentDrops then checks
// that every field prints back) into the rules the scheduler applies.
func TestConvertPlacement(t *testing.T) {
	objs, err := Decode(mustRead(t, "testdata/placement/gpu-tolerations.yaml"), "gpu-tolerations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects", len(objs))
	}
	secs := int64(300)
	wantTols := []cluster.Toleration{
		{Key: "nvidia.com/gpu", Operator: "Exists", Effect: cluster.TaintNoSchedule},
		{Key: "dedicated", Operator: "Equal", Value: "inference", Effect: cluster.TaintPreferNoSchedule},
		{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: cluster.TaintNoExecute, TolerationSeconds: &secs},
		{Operator: "Exists"},
	}
	if got := objs[0].Workload.Template.Tolerations; !reflect.DeepEqual(got, wantTols) {
		t.Errorf("tolerations %+v", got)
	}
	na := objs[1].Pod.Spec.Affinity.NodeAffinity
	if len(na.Required) != 2 || len(na.Required[0].MatchExpressions) != 6 || na.Required[1].MatchFields[0].Values[0] != "gpu-1" {
		t.Fatalf("required %+v", na.Required)
	}
	if len(na.Preferred) != 1 || na.Preferred[0].Weight != 50 {
		t.Fatalf("preferred %+v", na.Preferred)
	}
	node := func(name string, labels map[string]string) *cluster.Node {
		return &cluster.Node{Name: name, Labels: labels}
	}
	fit := map[string]string{"kubernetes.io/arch": "arm64", "nvidia.com/gpu.present": "true", "cores": "16", "generation": "4"}
	if !na.RequiredMatch(node("n", fit)) || !na.RequiredMatch(node("gpu-1", nil)) || na.RequiredMatch(node("n", nil)) {
		t.Error("required terms match the wrong nodes")
	}
}
