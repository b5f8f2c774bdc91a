package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"shoal/cluster"
)

// placementNotes are the lines for a pod's inter-pod rules: pod affinity
// and anti-affinity terms, then topology spread constraints in kubectl's
// words ("zone:DoNotSchedule when max skew 1 is exceeded for selector
// app=web"). Continuation lines start with a tab, as kubectl's do.
func placementNotes(w io.Writer, s *cluster.PodSpec) {
	if a := s.Affinity; a != nil {
		affinityLines(w, "Pod Affinity", a.PodAffinity)
		affinityLines(w, "Pod Anti-Affinity", a.PodAntiAffinity)
	}
	for i, c := range s.TopologySpreadConstraints {
		title := "Topology Spread Constraints:"
		if i > 0 {
			title = ""
		}
		line := fmt.Sprintf("%s:%s when max skew %d is exceeded for selector %s", c.TopologyKey, c.WhenUnsatisfiable, c.MaxSkew, selectorString(c.LabelSelector))
		if c.MinDomains != nil {
			line += fmt.Sprintf(", min domains %d", *c.MinDomains)
		}
		if len(c.MatchLabelKeys) > 0 {
			line += ", match label keys " + strings.Join(c.MatchLabelKeys, ",")
		}
		fmt.Fprintf(w, "%s\t%s\n", title, line)
	}
}

func affinityLines(w io.Writer, title string, a *cluster.PodAffinity) {
	if a == nil {
		return
	}
	var lines []string
	for _, t := range a.Required {
		lines = append(lines, "required: "+termString(t))
	}
	for _, p := range a.Preferred {
		lines = append(lines, "preferred (weight "+strconv.Itoa(int(p.Weight))+"): "+termString(p.Term))
	}
	for i, l := range lines {
		if i == 0 {
			fmt.Fprintf(w, "%s:\t%s\n", title, l)
		} else {
			fmt.Fprintf(w, "\t%s\n", l)
		}
	}
}

// termString is "app=web in namespaces a,b on kubernetes.io/hostname".
func termString(t cluster.PodAffinityTerm) string {
	s := selectorString(t.LabelSelector)
	ns := t.NamespaceSelector
	switch {
	case ns != nil && len(ns.MatchLabels)+len(ns.MatchExpressions) == 0:
		s += " in all namespaces"
	case ns != nil && len(t.Namespaces) > 0:
		s += " in namespaces " + strings.Join(t.Namespaces, ",") + " and those matching " + selectorString(ns)
	case ns != nil:
		s += " in namespaces matching " + selectorString(ns)
	case len(t.Namespaces) > 0:
		s += " in namespaces " + strings.Join(t.Namespaces, ",")
	}
	if len(t.MatchLabelKeys) > 0 {
		s += " matching label keys " + strings.Join(t.MatchLabelKeys, ",")
	}
	if len(t.MismatchLabelKeys) > 0 {
		s += " mismatching label keys " + strings.Join(t.MismatchLabelKeys, ",")
	}
	return s + " on " + t.TopologyKey
}

// selectorString writes a label selector as kubectl does: "app=web,tier
// in (a,b),!canary"; <none> selects nothing, <all> everything.
func selectorString(sel *cluster.LabelSelector) string {
	if sel == nil {
		return "<none>"
	}
	var parts []string
	if len(sel.MatchLabels) > 0 {
		parts = append(parts, labelString(sel.MatchLabels))
	}
	for _, r := range sel.MatchExpressions {
		switch r.Operator {
		case cluster.OpIn:
			parts = append(parts, r.Key+" in ("+strings.Join(r.Values, ",")+")")
		case cluster.OpNotIn:
			parts = append(parts, r.Key+" notin ("+strings.Join(r.Values, ",")+")")
		case cluster.OpExists:
			parts = append(parts, r.Key)
		case cluster.OpDoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	if len(parts) == 0 {
		return "<all>"
	}
	return strings.Join(parts, ",")
}
