package node

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"shoal/cluster"
)

// grpcCheck probes with the standard health checking protocol, as the
// kubelet does: plaintext (probes carry no credentials), on the pod's IP,
// SERVING is success and anything else, or no answer within the timeout,
// a failure. ctx carries the probe's timeout.
func grpcCheck(ctx context.Context, host string, g *cluster.GRPCAction, timeout time.Duration) (bool, string) {
	addr := net.JoinHostPort(host, strconv.Itoa(int(g.Port)))
	// passthrough: the address is an IP and port, nothing to resolve.
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("shoal-probe/1.0"))
	if err != nil {
		return false, fmt.Sprintf("error: failed to connect service at %q: %v", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: g.Service})
	if err != nil {
		switch status.Code(err) {
		case codes.Unimplemented:
			return false, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): " + status.Convert(err).Message()
		case codes.DeadlineExceeded:
			return false, fmt.Sprintf("timeout: health rpc did not complete within %s", timeout)
		}
		return false, fmt.Sprintf("error: health rpc probe failed: %v", err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return false, fmt.Sprintf("service unhealthy (responded with %q)", s.String())
	}
	return true, ""
}
