package manifest

import (
	corev1 "k8s.io/api/core/v1"

	"shoal/cluster"
)

// lifecycle converts a container's postStart and preStop hooks. As in
// Kubernetes, a sleep may not outlast the pod's grace period, and a
// tcpSocket hook is accepted though no kubelet runs it.
func (c *conv) lifecycle(l *corev1.Lifecycle, p string, portNames map[string]bool, grace int64) *cluster.Lifecycle {
	if l == nil {
		return nil
	}
	out := &cluster.Lifecycle{
		PostStart: c.hook(l.PostStart, p+".postStart", portNames, grace),
		PreStop:   c.hook(l.PreStop, p+".preStop", portNames, grace),
	}
	if out.PostStart == nil && out.PreStop == nil {
		return nil
	}
	return out
}

func (c *conv) hook(h *corev1.LifecycleHandler, p string, portNames map[string]bool, grace int64) *cluster.LifecycleHandler {
	if h == nil {
		return nil
	}
	out := &cluster.LifecycleHandler{}
	var handlers int
	out.Exec, out.HTTPGet, out.TCPSocket, handlers = c.actions(h.Exec, h.HTTPGet, h.TCPSocket, p, portNames)
	if s := h.Sleep; s != nil {
		handlers++
		out.Sleep = &cluster.SleepAction{Seconds: s.Seconds}
		if s.Seconds < 0 || s.Seconds > grace {
			c.errf(p+".sleep.seconds", "%d must be between 0 and terminationGracePeriodSeconds (%d)", s.Seconds, grace)
		}
	}
	if handlers != 1 {
		c.errf(p, "needs exactly one of exec, httpGet, sleep and tcpSocket")
	}
	return out
}
