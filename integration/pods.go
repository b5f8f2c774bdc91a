package integration

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Select returns the pods for which sel is true (all when sel is nil).
func Select(pods []corev1.Pod, sel func(corev1.Pod) bool) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if sel == nil || sel(p) {
			out = append(out, p)
		}
	}
	return out
}

// Labeled selects pods whose label key has value.
func Labeled(key, value string) func(corev1.Pod) bool {
	return func(p corev1.Pod) bool { return p.Labels[key] == value }
}

// Named selects the pod with this name.
func Named(name string) func(corev1.Pod) bool {
	return func(p corev1.Pod) bool { return p.Name == name }
}

// IsReady reports the pod's Ready condition, as kubectl reads it.
func IsReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Container returns the status of the pod's container name.
func Container(p corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == name {
			return cs, true
		}
	}
	return corev1.ContainerStatus{}, false
}

// Restarts is the sum of the pod's containers' restart counts.
func Restarts(p corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// Summary is "name phase[/Ready] node" per pod, for failure messages.
func Summary(pods []corev1.Pod) string {
	if len(pods) == 0 {
		return "(none)"
	}
	parts := make([]string, len(pods))
	for i, p := range pods {
		s := fmt.Sprintf("%s %s", p.Name, orNone(string(p.Status.Phase)))
		if IsReady(p) {
			s += "/Ready"
		}
		if p.DeletionTimestamp != nil {
			s += "/Terminating"
		}
		if r := Restarts(p); r > 0 {
			s += fmt.Sprintf(" restarts=%d", r)
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}

// Names returns the pods' names.
func Names(pods []corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "<no phase>"
	}
	return s
}
