package main

import (
	"bytes"
	"strings"
	"testing"

	"shoal/cluster"
)

// TestDescribePodPlacement: describe shows a pod's inter-pod rules and,
// while it is Pending, Kubernetes' reason.
func TestDescribePodPlacement(t *testing.T) {
	one := int32(2)
	p := &cluster.Pod{Namespace: "default", Name: "web-3", UID: "u1", Labels: map[string]string{"app": "web"}, Spec: cluster.PodSpec{
		Containers: []cluster.Container{{Name: "app", Image: "nginx"}},
		Affinity: &cluster.Affinity{
			PodAffinity: &cluster.PodAffinity{Preferred: []cluster.WeightedPodAffinityTerm{{Weight: 20, Term: cluster.PodAffinityTerm{
				LabelSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"app": "cache"}}, NamespaceSelector: &cluster.LabelSelector{}, TopologyKey: "topology.kubernetes.io/zone"}},
				{Weight: 10, Term: cluster.PodAffinityTerm{LabelSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
					NamespaceSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"team": "data"}}, TopologyKey: "kubernetes.io/hostname"}}}},
			PodAntiAffinity: &cluster.PodAffinity{
				Required: []cluster.PodAffinityTerm{{LabelSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: "kubernetes.io/hostname"}},
				Preferred: []cluster.WeightedPodAffinityTerm{{Weight: 50, Term: cluster.PodAffinityTerm{
					LabelSelector: &cluster.LabelSelector{MatchExpressions: []cluster.LabelSelectorRequirement{
						{Key: "tier", Operator: cluster.OpIn, Values: []string{"a", "b"}}, {Key: "canary", Operator: cluster.OpDoesNotExist}}},
					Namespaces: []string{"shop"}, TopologyKey: "kubernetes.io/hostname"}}},
			},
		},
		TopologySpreadConstraints: []cluster.TopologySpreadConstraint{
			{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: cluster.DoNotSchedule,
				LabelSelector: &cluster.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, MinDomains: &one},
			{MaxSkew: 3, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: cluster.ScheduleAnyway, LabelSelector: &cluster.LabelSelector{}},
		},
	}, SchedulingMessage: "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules"}
	var b bytes.Buffer
	if err := describePod(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Pod Affinity:                 preferred (weight 20): app=cache in all namespaces on topology.kubernetes.io/zone\n" +
			"                              preferred (weight 10): app=db in namespaces matching team=data on kubernetes.io/hostname\n",
		"Pod Anti-Affinity:            required: app=web on kubernetes.io/hostname\n" +
			"                              preferred (weight 50): tier in (a,b),!canary in namespaces shop on kubernetes.io/hostname\n",
		"Topology Spread Constraints:  topology.kubernetes.io/zone:DoNotSchedule when max skew 1 is exceeded for selector app=web, min domains 2\n" +
			"                              kubernetes.io/hostname:ScheduleAnyway when max skew 3 is exceeded for selector <all>\n",
		"Warning  FailedScheduling  0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
}
