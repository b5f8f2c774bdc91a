package cluster

import "testing"

func TestNodeSelectorRequirement(t *testing.T) {
	n := &Node{Name: "gpu-1", Labels: map[string]string{"zone": "a", "cores": "16", "odd": "x"}}
	req := func(key, op string, values ...string) NodeSelectorTerm {
		return NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	field := func(op string, values ...string) NodeSelectorTerm {
		return NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{{Key: FieldNodeName, Operator: op, Values: values}}}
	}
	for _, tc := range []struct {
		name string
		term NodeSelectorTerm
		want bool
	}{
		{"In", req("zone", OpIn, "b", "a"), true},
		{"In other", req("zone", OpIn, "b"), false},
		{"In missing key", req("rack", OpIn, "a"), false},
		{"NotIn", req("zone", OpNotIn, "b"), true},
		{"NotIn listed", req("zone", OpNotIn, "a"), false},
		{"NotIn missing key", req("rack", OpNotIn, "a"), true},
		{"Exists", req("zone", OpExists), true},
		{"Exists missing", req("rack", OpExists), false},
		{"DoesNotExist", req("rack", OpDoesNotExist), true},
		{"DoesNotExist present", req("zone", OpDoesNotExist), false},
		{"Gt", req("cores", OpGt, "8"), true},
		{"Gt equal", req("cores", OpGt, "16"), false},
		{"Lt", req("cores", OpLt, "32"), true},
		{"Lt smaller", req("cores", OpLt, "4"), false},
		{"Gt not a number on the node", req("odd", OpGt, "1"), false},
		{"Gt missing", req("rack", OpGt, "1"), false},
		{"unknown operator", req("zone", "Near", "a"), false},
		{"matchFields In", field(OpIn, "gpu-1"), true},
		{"matchFields NotIn", field(OpNotIn, "gpu-1"), false},
		{"matchFields other field", NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{{Key: "metadata.uid", Operator: OpIn, Values: []string{"gpu-1"}}}}, false},
		{"empty term matches nothing", NodeSelectorTerm{}, false},
		{"all requirements must hold", NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{{Key: "zone", Operator: OpIn, Values: []string{"a"}}, {Key: "rack", Operator: OpExists}}}, false},
	} {
		if got := tc.term.Matches(n); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
	a := &NodeAffinity{
		Required:  []NodeSelectorTerm{req("rack", OpExists), req("zone", OpIn, "a")},
		Preferred: []PreferredSchedulingTerm{{Weight: 10, Preference: req("zone", OpIn, "a")}, {Weight: 5, Preference: req("cores", OpGt, "8")}, {Weight: 7, Preference: req("rack", OpExists)}},
	}
	if !a.RequiredMatch(n) {
		t.Error("terms are ORed")
	}
	if s := a.PreferredScore(n); s != 15 {
		t.Errorf("preferred score %d, want 15", s)
	}
	var none *NodeAffinity
	if !none.RequiredMatch(n) || none.PreferredScore(n) != 0 {
		t.Error("nil affinity must match everything and score 0")
	}
}
