package cluster

import "testing"

func TestLabelSelectorMatches(t *testing.T) {
	web := map[string]string{"app": "web", "tier": "front"}
	tests := []struct {
		name string
		sel  *LabelSelector
		want bool
	}{
		{"nil matches nothing", nil, false},
		{"empty matches all", &LabelSelector{}, true},
		{"matchLabels", &LabelSelector{MatchLabels: map[string]string{"app": "web"}}, true},
		{"matchLabels other value", &LabelSelector{MatchLabels: map[string]string{"app": "db"}}, false},
		{"In", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: OpIn, Values: []string{"db", "web"}}}}, true},
		{"In missing key", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: OpIn, Values: []string{"a"}}}}, false},
		{"NotIn", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: OpNotIn, Values: []string{"web"}}}}, false},
		{"NotIn missing key", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: OpNotIn, Values: []string{"a"}}}}, true},
		{"Exists", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: OpExists}}}, true},
		{"DoesNotExist", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: OpDoesNotExist}}}, false},
		{"unknown operator", &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: OpGt, Values: []string{"1"}}}}, false},
		{"labels and expressions", &LabelSelector{MatchLabels: map[string]string{"app": "web"}, MatchExpressions: []LabelSelectorRequirement{{Key: "canary", Operator: OpDoesNotExist}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sel.Matches(web); got != tt.want {
				t.Errorf("Matches = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestAffinityTermSelectorAndNamespaces(t *testing.T) {
	own := map[string]string{"app": "web", "hash": "h1", "track": "stable"}
	term := PodAffinityTerm{
		LabelSelector:     &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		MatchLabelKeys:    []string{"hash", "absent"},
		MismatchLabelKeys: []string{"track"},
	}
	sel := term.Selector(own)
	tests := []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"app": "web", "hash": "h1", "track": "canary"}, true},
		{map[string]string{"app": "web", "hash": "h1", "track": "stable"}, false},
		{map[string]string{"app": "web", "hash": "h2"}, false},
		{map[string]string{"app": "web", "hash": "h1"}, true},
	}
	for _, tt := range tests {
		if got := sel.Matches(tt.labels); got != tt.want {
			t.Errorf("Matches(%v) = %t, want %t", tt.labels, got, tt.want)
		}
	}
	if len(term.LabelSelector.MatchExpressions) != 0 {
		t.Error("Selector changed the term's own selector")
	}
	shop := map[string]string{LabelNamespaceName: "b", "team": "shop"}
	nsTests := []struct {
		term    PodAffinityTerm
		own, ns string
		labels  map[string]string
		want    bool
	}{
		{PodAffinityTerm{}, "a", "a", nil, true},
		{PodAffinityTerm{}, "a", "b", shop, false},
		{PodAffinityTerm{Namespaces: []string{"b"}}, "a", "b", shop, true},
		{PodAffinityTerm{Namespaces: []string{"b"}}, "a", "a", nil, false},
		{PodAffinityTerm{NamespaceSelector: &LabelSelector{}}, "a", "z", nil, true},
		{PodAffinityTerm{NamespaceSelector: &LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}, "a", "b", shop, true},
		{PodAffinityTerm{NamespaceSelector: &LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}, "a", "a", nil, false},
		{PodAffinityTerm{Namespaces: []string{"a"}, NamespaceSelector: &LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}, "x", "a", nil, true},
	}
	for _, tt := range nsTests {
		if got := tt.term.InNamespace(tt.own, tt.ns, tt.labels); got != tt.want {
			t.Errorf("%+v.InNamespace(%s, %s) = %t", tt.term, tt.own, tt.ns, got)
		}
	}
}

func TestPodSpecCloneInterPod(t *testing.T) {
	one := int32(1)
	s := PodSpec{
		Affinity: &Affinity{PodAntiAffinity: &PodAffinity{Required: []PodAffinityTerm{{
			LabelSelector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: "zone"}}}},
		TopologySpreadConstraints: []TopologySpreadConstraint{{MaxSkew: 1, MinDomains: &one,
			LabelSelector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
	}
	c := s.Clone()
	c.Affinity.PodAntiAffinity.Required[0].LabelSelector.MatchLabels["app"] = "x"
	c.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app"] = "x"
	*c.TopologySpreadConstraints[0].MinDomains = 5
	if s.Affinity.PodAntiAffinity.Required[0].LabelSelector.MatchLabels["app"] != "web" ||
		s.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app"] != "web" || *s.TopologySpreadConstraints[0].MinDomains != 1 {
		t.Error("Clone shares memory with the original")
	}
	if !s.HasPodAffinity() || (&PodSpec{}).HasPodAffinity() {
		t.Error("HasPodAffinity")
	}
}
