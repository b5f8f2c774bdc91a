package node

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"shoal/cluster"
)

// grpcServer serves the standard health service on a loopback port (or no
// service at all when withHealth is false) until the test ends.
func grpcServer(t *testing.T, withHealth bool, hs healthpb.HealthServer) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	if withHealth {
		healthpb.RegisterHealthServer(srv, hs)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(p)
	return int32(port)
}

// slowHealth answers after a delay, to run into the probe's timeout.
type slowHealth struct {
	healthpb.UnimplementedHealthServer
	delay time.Duration
}

func (s slowHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	// Not cut short by the caller's deadline: the answer must come late.
	time.Sleep(s.delay)
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func TestGRPCProbe(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	port := grpcServer(t, true, hs)
	bare := grpcServer(t, false, nil)
	slow := grpcServer(t, true, slowHealth{delay: time.Second})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	for _, tc := range []struct {
		name    string
		action  cluster.GRPCAction
		timeout int32
		ok      bool
		msg     string
	}{
		{"server serving", cluster.GRPCAction{Port: port}, 5, true, ""},
		{"service serving", cluster.GRPCAction{Port: port, Service: "api"}, 5, true, ""},
		{"service not serving", cluster.GRPCAction{Port: port, Service: "db"}, 5, false, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", cluster.GRPCAction{Port: port, Service: "nope"}, 5, false, "code = NotFound"},
		{"no health service", cluster.GRPCAction{Port: bare}, 5, false, "does not implement the grpc health protocol"},
		{"nothing listening", cluster.GRPCAction{Port: closed}, 5, false, "error: health rpc probe failed"},
		{"timeout", cluster.GRPCAction{Port: slow}, 1, false, "timeout: health rpc did not complete within 100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &prober{podIP: "127.0.0.1", unit: 100 * time.Millisecond}
			action := tc.action
			ok, msg := p.check(context.Background(), &cluster.Probe{GRPC: &action, TimeoutSeconds: tc.timeout})
			if ok != tc.ok || !strings.Contains(msg, tc.msg) {
				t.Errorf("check = %t, %q; want %t, %q", ok, msg, tc.ok, tc.msg)
			}
		})
	}
}

// TestGRPCReadinessProbe: a pod whose readiness is a gRPC health check is
// ready while its server reports SERVING, and not ready when it stops.
func TestGRPCReadinessProbe(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("app", healthpb.HealthCheckResponse_NOT_SERVING)
	port := grpcServer(t, true, hs)
	h := start(t, nil, nil)
	p := newPod("grpc", "app")
	// Timeouts of 100 probe "seconds" (1s): a loaded test machine is slow.
	p.Spec.Containers[0].ReadinessProbe = &cluster.Probe{GRPC: &cluster.GRPCAction{Port: port, Service: "app"},
		PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 100}
	h.src.putPod(p)
	h.waitFor("running, not ready", func() bool {
		return h.status("grpc").Phase == cluster.PodRunning && strings.Contains(h.ctrStatus("grpc", "app").Message, "NOT_SERVING")
	})
	hs.SetServingStatus("app", healthpb.HealthCheckResponse_SERVING)
	h.waitFor("ready once SERVING", func() bool { return h.status("grpc").Ready })
	hs.SetServingStatus("app", healthpb.HealthCheckResponse_NOT_SERVING)
	h.waitFor("not ready again", func() bool { return !h.status("grpc").Ready })
}
