package agent

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"shoal/cluster"
	"shoal/runtime"
)

// nodePorts are what this node publishes: every port of every NodePort
// and LoadBalancer Service that has a node port, to the ready pods behind
// it on any node. Every node publishes all of them, so a client may use
// any node's address (a LoadBalancer's ingress is every ready node's).
func nodePorts(st *cluster.State) []runtime.NodePort {
	var svcs []*cluster.Service
	for _, s := range st.Services() {
		if s.PublishesNodePorts() {
			svcs = append(svcs, s)
		}
	}
	if len(svcs) == 0 {
		return nil // most states: no need to look at every pod
	}
	eps := cluster.ServiceEndpoints(st, svcs)
	var out []runtime.NodePort
	for i, s := range svcs {
		for j, p := range s.Ports {
			if p.NodePort == 0 {
				continue // stored before node ports were allocated
			}
			np := runtime.NodePort{Protocol: p.Protocol, Port: p.NodePort, Service: fmt.Sprintf("%s:%s", s.Key(), p.Name)}
			for _, e := range eps[i][j] {
				np.Endpoints = append(np.Endpoints, runtime.Endpoint{IP: e.IP, Port: e.Port})
			}
			out = append(out, np)
		}
	}
	return out
}

// runNodePortSync keeps the node's node-port rules in step with the state
// until ctx ends (see stateSyncLoop); the rules stay when it ends, so
// published ports keep working across an agent restart.
func runNodePortSync(ctx context.Context, src routeSource, sync func(context.Context, []runtime.NodePort) error, log *slog.Logger) {
	stateSyncLoop(ctx, src, "node ports", nodePorts, func(a, b []runtime.NodePort) bool { return reflect.DeepEqual(a, b) },
		sync, log, routeResync)
}
