package main

import (
	"fmt"
	"strings"

	"shoal/agent/apiclient"
)

// resource is a kind as the API routes name it.
type resource struct {
	plural string // API path segment: "pods"
	kind   string // Kubernetes kind: "Pod"
	group  string // kubectl-style prefix: "deployment.apps"
}

var resources = []resource{
	{"nodes", "Node", "node"},
	{"pods", "Pod", "pod"},
	{"deployments", "Deployment", "deployment.apps"},
	{"statefulsets", "StatefulSet", "statefulset.apps"},
	{"services", "Service", "service"},
}

var aliases = map[string]string{
	"node": "nodes", "nodes": "nodes", "no": "nodes",
	"pod": "pods", "pods": "pods", "po": "pods",
	"deployment": "deployments", "deployments": "deployments", "deploy": "deployments",
	"statefulset": "statefulsets", "statefulsets": "statefulsets", "sts": "statefulsets",
	"service": "services", "services": "services", "svc": "services",
}

// parseKind turns what a user typed ("deploy", "Deployment",
// "deployments.apps") into a resource.
func parseKind(s string) (resource, error) {
	k := strings.ToLower(s)
	k, _, _ = strings.Cut(k, ".")
	if p, ok := aliases[k]; ok {
		for _, r := range resources {
			if r.plural == p {
				return r, nil
			}
		}
	}
	return resource{}, fmt.Errorf("unknown kind %q (expected one of nodes, pods, deployments, statefulsets, services)", s)
}

// parseKindName accepts "KIND/NAME" or the two words "KIND NAME".
func parseKindName(args []string) (resource, string, error) {
	switch {
	case len(args) == 1 && strings.Contains(args[0], "/"):
		k, n, _ := strings.Cut(args[0], "/")
		r, err := parseKind(k)
		return r, n, err
	case len(args) == 2:
		r, err := parseKind(args[0])
		return r, args[1], err
	default:
		return resource{}, "", fmt.Errorf("expected KIND/NAME or KIND NAME, got %q", strings.Join(args, " "))
	}
}

// client addresses the agent with the credentials resolved before the
// verb ran (see newRoot's PersistentPreRunE).
func (g *globals) client() *apiclient.Client { return apiclient.NewClient(g.addr, g.token, g.tls) }
