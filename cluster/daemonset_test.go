package cluster

import "testing"

func TestShouldRunDaemon(t *testing.T) {
	gpu := &Node{Name: "g1", Labels: map[string]string{"kubernetes.io/hostname": "g1", "gpu": "yes"},
		Taints: []Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: TaintNoSchedule}}}
	plain := &Node{Name: "n1", Labels: map[string]string{"kubernetes.io/hostname": "n1"},
		Taints: []Taint{{Key: "slow", Effect: TaintPreferNoSchedule}}}
	tolerateGPU := []Toleration{{Key: "nvidia.com/gpu", Operator: "Exists"}}
	onlyGPU := &Affinity{NodeAffinity: &NodeAffinity{Required: []NodeSelectorTerm{{
		MatchExpressions: []NodeSelectorRequirement{{Key: "gpu", Operator: "Exists"}}}}}}
	tests := []struct {
		name string
		node *Node
		spec PodSpec
		want bool
	}{
		{"an untolerated NoSchedule taint keeps it off", gpu, PodSpec{}, false},
		{"a toleration lets it on", gpu, PodSpec{Tolerations: tolerateGPU}, true},
		{"PreferNoSchedule does not keep it off", plain, PodSpec{}, true},
		{"nodeSelector", plain, PodSpec{NodeSelector: map[string]string{"gpu": "yes"}}, false},
		{"required node affinity matches", gpu, PodSpec{Tolerations: tolerateGPU, Affinity: onlyGPU}, true},
		{"required node affinity does not match", plain, PodSpec{Affinity: onlyGPU}, false},
	}
	noExec := &Node{Name: "x", Taints: []Taint{{Key: "drain", Effect: TaintNoExecute}}}
	if ShouldKeepDaemon(noExec, &PodSpec{}) || ShouldRunDaemon(noExec, &PodSpec{}) {
		t.Error("an untolerated NoExecute taint must take the daemon pod away")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ShouldRunDaemon(tt.node, &tt.spec); got != tt.want {
				t.Errorf("ShouldRunDaemon = %v, want %v", got, tt.want)
			}
			// NoSchedule keeps new pods off, never running ones.
			if keep := ShouldKeepDaemon(tt.node, &tt.spec); keep != (tt.want || tt.name == "an untolerated NoSchedule taint keeps it off") {
				t.Errorf("ShouldKeepDaemon = %v", keep)
			}
		})
	}
}
