package main

import (
	"fmt"
	"strings"

	"shoal/agent/apiclient"
	"shoal/cluster"
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
	{"daemonsets", "DaemonSet", "daemonset.apps"},
	{"replicasets", "ReplicaSet", "replicaset.apps"},
	{"jobs", "Job", "job.batch"},
	{"cronjobs", "CronJob", "cronjob.batch"},
	{"services", "Service", "service"},
	{"configmaps", "ConfigMap", "configmap"},
	{"secrets", "Secret", "secret"},
	{"namespaces", "Namespace", "namespace"},
	{"serviceaccounts", "ServiceAccount", "serviceaccount"},
	{"roles", "Role", "role.rbac.authorization.k8s.io"},
	{"rolebindings", "RoleBinding", "rolebinding.rbac.authorization.k8s.io"},
	{"clusterroles", "ClusterRole", "clusterrole.rbac.authorization.k8s.io"},
	{"clusterrolebindings", "ClusterRoleBinding", "clusterrolebinding.rbac.authorization.k8s.io"},
	{"poddisruptionbudgets", "PodDisruptionBudget", "poddisruptionbudget.policy"},
	{"persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim"},
	{"horizontalpodautoscalers", "HorizontalPodAutoscaler", "horizontalpodautoscaler.autoscaling"},
}

var aliases = map[string]string{
	"node": "nodes", "nodes": "nodes", "no": "nodes",
	"pod": "pods", "pods": "pods", "po": "pods",
	"deployment": "deployments", "deployments": "deployments", "deploy": "deployments",
	"statefulset": "statefulsets", "statefulsets": "statefulsets", "sts": "statefulsets",
	"daemonset": "daemonsets", "daemonsets": "daemonsets", "ds": "daemonsets",
	"replicaset": "replicasets", "replicasets": "replicasets", "rs": "replicasets",
	"job": "jobs", "jobs": "jobs",
	"cronjob": "cronjobs", "cronjobs": "cronjobs", "cj": "cronjobs",
	"service": "services", "services": "services", "svc": "services",
	"configmap": "configmaps", "configmaps": "configmaps", "cm": "configmaps",
	"secret": "secrets", "secrets": "secrets",
	"namespace": "namespaces", "namespaces": "namespaces", "ns": "namespaces",
	"serviceaccount": "serviceaccounts", "serviceaccounts": "serviceaccounts", "sa": "serviceaccounts",
	"role": "roles", "roles": "roles",
	"rolebinding": "rolebindings", "rolebindings": "rolebindings",
	"clusterrole": "clusterroles", "clusterroles": "clusterroles",
	"clusterrolebinding": "clusterrolebindings", "clusterrolebindings": "clusterrolebindings",
	"poddisruptionbudget": "poddisruptionbudgets", "poddisruptionbudgets": "poddisruptionbudgets", "pdb": "poddisruptionbudgets",
	"persistentvolumeclaim": "persistentvolumeclaims", "persistentvolumeclaims": "persistentvolumeclaims", "pvc": "persistentvolumeclaims",
	"horizontalpodautoscaler": "horizontalpodautoscalers", "horizontalpodautoscalers": "horizontalpodautoscalers", "hpa": "horizontalpodautoscalers",
}

// objectKind is the stored kind of a resource kept as a cluster.Object,
// "" for the others.
func (r resource) objectKind() cluster.ObjectKind {
	for _, k := range cluster.ObjectKinds {
		if string(k) == r.kind {
			return k
		}
	}
	return ""
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
	names := make([]string, len(resources))
	for i, r := range resources {
		names[i] = r.plural
	}
	return resource{}, fmt.Errorf("unknown kind %q (expected one of %s)", s, strings.Join(names, ", "))
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
func (g *globals) client() *apiclient.Client {
	c := apiclient.NewClient(g.addr, g.token, g.tls)
	c.SendDeadline = g.timeout > 0
	return c
}
