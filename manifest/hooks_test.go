package manifest

import (
	"reflect"
	"testing"

	"shoal/cluster"
)

// TestConvertNodeFeatures: gRPC probes, lifecycle hooks and
// ephemeral-storage convert with Kubernetes' defaults and encode back.
func TestConvertNodeFeatures(t *testing.T) {
	o := decodeOne(t, `apiVersion: v1
kind: Pod
metadata: {name: api}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: api
    image: api:v1
    ports: [{name: http, containerPort: 8080}]
    resources:
      requests: {ephemeral-storage: 1Gi}
      limits: {ephemeral-storage: 2Gi, memory: 64Mi}
    livenessProbe: {grpc: {port: 9090}}
    readinessProbe: {grpc: {port: 9090, service: readiness}, timeoutSeconds: 3}
    lifecycle:
      postStart: {exec: {command: [sh, -c, "echo hi > /tmp/x"]}}
      preStop: {httpGet: {path: drain, port: http, scheme: HTTPS}}
  - name: side
    image: side:v1
    resources: {limits: {ephemeral-storage: 500Mi}}
    lifecycle:
      postStart: {tcpSocket: {port: 80}}
      preStop: {sleep: {seconds: 20}}
`)
	api, side := o.Pod.Spec.Containers[0], o.Pod.Spec.Containers[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"liveness grpc", api.LivenessProbe.GRPC, &cluster.GRPCAction{Port: 9090}},
		{"readiness grpc", api.ReadinessProbe.GRPC, &cluster.GRPCAction{Port: 9090, Service: "readiness"}},
		{"readiness timeout", api.ReadinessProbe.TimeoutSeconds, int32(3)},
		{"postStart exec", api.Lifecycle.PostStart, &cluster.LifecycleHandler{Exec: []string{"sh", "-c", "echo hi > /tmp/x"}}},
		{"preStop httpGet", api.Lifecycle.PreStop, &cluster.LifecycleHandler{HTTPGet: &cluster.HTTPGetAction{Path: "drain", PortName: "http", Scheme: "HTTPS"}}},
		{"requests", api.Requests, cluster.Resources{EphemeralStorage: 1 << 30, Memory: 64 << 20}},
		{"limits", api.Limits, cluster.Resources{EphemeralStorage: 2 << 30, Memory: 64 << 20}},
		{"limit without request", side.Requests, cluster.Resources{EphemeralStorage: 500 << 20}},
		{"tcpSocket hook kept", side.Lifecycle.PostStart, &cluster.LifecycleHandler{TCPSocket: &cluster.TCPSocketAction{Port: 80}}},
		{"sleep hook", side.Lifecycle.PreStop, &cluster.LifecycleHandler{Sleep: &cluster.SleepAction{Seconds: 20}}},
		{"pod requests", o.Pod.Spec.Requests(), cluster.Resources{EphemeralStorage: 1<<30 + 500<<20, Memory: 64 << 20}},
		{"pod limits", o.Pod.Spec.Limits(), cluster.Resources{EphemeralStorage: 2<<30 + 500<<20, Memory: 64 << 20}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v, want %+v", c.name, c.got, c.want)
		}
	}

	k := PodToK8s(o.Pod).Spec.Containers[0]
	if s := k.LivenessProbe.GRPC.Service; s == nil || *s != "" {
		t.Errorf("encoded grpc service = %v, want \"\" as Kubernetes defaults it", s)
	}
	if q := k.Resources.Limits["ephemeral-storage"]; q.String() != "2Gi" {
		t.Errorf("encoded ephemeral-storage limit = %s, want 2Gi", q.String())
	}
	if h := k.Lifecycle.PreStop.HTTPGet; h == nil || h.Port.StrVal != "http" || h.Path != "drain" {
		t.Errorf("encoded preStop = %+v", k.Lifecycle.PreStop)
	}
}
