package cluster

import (
	"maps"
	"strconv"
)

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

func itoa(i int) string { return strconv.Itoa(i) }

// MatchesSelector reports whether labels carry every key=value of sel. An
// empty selector matches nothing, as a Service without a selector selects no
// pods.
func MatchesSelector(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// Key is the identity of a namespaced object: "namespace/name".
func Key(namespace, name string) string { return namespace + "/" + name }
