package manifest

import (
	"reflect"
	"slices"
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

func TestPodAffinityManifest(t *testing.T) {
	objs, err := Decode(mustRead(t, "testdata/placement/pod-affinity.yaml"), "pod-affinity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := objs[0].Workload.Template
	pa, anti := spec.Affinity.PodAffinity, spec.Affinity.PodAntiAffinity
	if len(pa.Required) != 1 || !slices.Equal(pa.Required[0].Namespaces, []string{"shop", "shared"}) ||
		pa.Required[0].TopologyKey != "topology.kubernetes.io/zone" || len(pa.Required[0].LabelSelector.MatchExpressions) != 2 {
		t.Errorf("podAffinity required %+v", pa.Required)
	}
	if len(pa.Preferred) != 2 || pa.Preferred[0].Weight != 20 || pa.Preferred[0].Term.NamespaceSelector == nil {
		t.Errorf("podAffinity preferred %+v", pa.Preferred)
	}
	if len(anti.Required) != 1 || !slices.Equal(anti.Required[0].MatchLabelKeys, []string{"pod-template-hash"}) {
		t.Errorf("podAntiAffinity required %+v", anti.Required)
	}
	if len(anti.Preferred) != 1 || !slices.Equal(anti.Preferred[0].Term.MismatchLabelKeys, []string{"tier"}) {
		t.Errorf("podAntiAffinity preferred %+v", anti.Preferred)
	}
	// The merged selector keeps this pod's template hash and nothing else.
	own := objs[0].Workload.TemplateLabels
	sel := anti.Required[0].Selector(own)
	other := map[string]string{"app": "web", "tier": "front", "pod-template-hash": "old"}
	if !sel.Matches(own) || sel.Matches(other) {
		t.Errorf("matchLabelKeys selector %+v", sel)
	}
	team := map[string]string{"team": "data"}
	if !anti.Required[0].InNamespace("shop", "shop", nil) || anti.Required[0].InNamespace("shop", "default", nil) ||
		!pa.Required[0].InNamespace("shop", "shared", nil) || !pa.Preferred[0].Term.InNamespace("shop", "any", nil) ||
		!pa.Preferred[1].Term.InNamespace("shop", "any", team) || pa.Preferred[1].Term.InNamespace("shop", "shop", nil) {
		t.Error("namespaces resolved wrongly")
	}
	three := int32(3)
	want := []cluster.TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: cluster.DoNotSchedule,
			LabelSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, MinDomains: &three,
			NodeAffinityPolicy: cluster.PolicyIgnore, NodeTaintsPolicy: cluster.PolicyHonor, MatchLabelKeys: []string{"pod-template-hash"}},
		{MaxSkew: 2, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: cluster.ScheduleAnyway,
			LabelSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	if got := spec.TopologySpreadConstraints; !reflect.DeepEqual(got, want) {
		t.Errorf("topologySpreadConstraints %s", jsonString(got))
	}
	if spec.TopologySpreadConstraints[0].HonorsAffinity() || !spec.TopologySpreadConstraints[0].HonorsTaints() ||
		!spec.TopologySpreadConstraints[1].HonorsAffinity() || spec.TopologySpreadConstraints[1].HonorsTaints() {
		t.Error("inclusion policies")
	}
}
