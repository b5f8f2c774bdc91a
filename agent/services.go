package agent

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"shoal/cluster"
	"shoal/runtime"
)

// servicePorts are what this node serves: every port of every Service
// with a virtual IP (on that IP) and of every NodePort and LoadBalancer
// Service (on its node port), to the ready pods behind it on any node.
// Every node serves all of them, so a pod reaches a cluster IP from any
// node and a client may use any node's address for a node port. self is
// this node's name, for externalTrafficPolicy Local.
func servicePorts(st *cluster.State, self string) []runtime.ServicePort {
	var svcs []*cluster.Service
	for _, s := range st.Services() {
		if s.HasClusterIP() || s.PublishesNodePorts() {
			svcs = append(svcs, s)
		}
	}
	if len(svcs) == 0 {
		return nil // no need to look at every pod
	}
	eps := cluster.ServiceEndpoints(st, svcs)
	var out []runtime.ServicePort
	for i, s := range svcs {
		for j, p := range s.Ports {
			sp := runtime.ServicePort{
				Service:         fmt.Sprintf("%s:%s", s.Key(), p.Name),
				Protocol:        p.Protocol,
				AffinitySeconds: s.AffinitySeconds(),
			}
			if s.HasClusterIP() {
				sp.ClusterIP, sp.Port = s.ClusterIP, p.Port
			}
			if s.PublishesNodePorts() && p.NodePort != 0 { // 0: stored before node ports were allocated
				sp.NodePort = p.NodePort
				sp.NodeLocal = s.ExternalTrafficPolicy == cluster.ExternalTrafficPolicyLocal
			}
			if sp.ClusterIP == "" && sp.NodePort == 0 {
				continue
			}
			for _, e := range eps[i][j] {
				sp.Endpoints = append(sp.Endpoints, runtime.Endpoint{IP: e.IP, Port: e.Port, Local: e.Node == self})
			}
			out = append(out, sp)
		}
	}
	return out
}

// runServiceSync keeps the node's service rules in step with the state
// until ctx ends (see stateSyncLoop): a pod turning ready or not changes
// the state, and the rules follow within one iptables-restore. The rules
// stay when it ends, so Services keep working across an agent restart.
func runServiceSync(ctx context.Context, src routeSource, self string, sync func(context.Context, []runtime.ServicePort) error, log *slog.Logger) {
	stateSyncLoop(ctx, src, "services", func(st *cluster.State) []runtime.ServicePort { return servicePorts(st, self) },
		func(a, b []runtime.ServicePort) bool { return reflect.DeepEqual(a, b) }, sync, log, routeResync)
}
