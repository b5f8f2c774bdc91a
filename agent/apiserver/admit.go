package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/manifest"
	"shoal/policy"
)

// policyOptions is the pod security policy in force.
func policyOptions(cfg cluster.Config) policy.Options {
	level := policy.Level(cfg.PodSecurity)
	if level == "" {
		level = policy.Baseline
	}
	return policy.Options{Level: level, AllowedHostPaths: cfg.AllowedHostPaths}
}

// EnforceLabel is Kubernetes' Pod Security Admission label: on a
// Namespace it sets the level for the pods in it.
const EnforceLabel = "pod-security.kubernetes.io/enforce"

// policyFor is the policy of a namespace: its Namespace's enforce label,
// that of a Namespace in the same apply (pending) first, else the
// cluster's level.
func policyFor(st *cluster.State, ns string, pending map[string]*cluster.Object) policy.Options {
	opt := policyOptions(st.Config())
	n := pending[ns]
	if n == nil {
		n, _ = st.Object(cluster.KindNamespace, "", ns)
	}
	if n != nil {
		if l, err := policy.ParseLevel(n.Labels[EnforceLabel]); err == nil {
			opt.Level = l
		}
	}
	return opt
}

// admit checks an object's pods against the pod security policy of their
// namespace; a refused object is named with every rule it breaks, and
// nothing of the apply is committed. A Namespace may set its own level,
// but only an admin may set one looser than the cluster's.
func admit(st *cluster.State, o manifest.Object, pending map[string]*cluster.Object, c Caller) error {
	switch {
	case o.Workload != nil:
		return admitTemplate(st, o.Workload, &o.Workload.Template, pending)
	case o.Pod != nil:
		return policy.Explain("pod "+o.Name, "spec", policy.Check(&o.Pod.Spec, policyFor(st, o.Namespace, pending)))
	case o.Generic != nil && o.Generic.Kind == cluster.KindNamespace:
		return admitNamespace(st, o.Generic, c)
	}
	return nil
}

func admitNamespace(st *cluster.State, ns *cluster.Object, c Caller) error {
	v, ok := ns.Labels[EnforceLabel]
	if !ok {
		return nil
	}
	l, err := policy.ParseLevel(v)
	if err != nil {
		return fmt.Errorf("metadata.labels[%s]: %w", EnforceLabel, err)
	}
	cl := policyOptions(st.Config()).Level
	if levelRank(l) < levelRank(cl) && c.Role != cluster.RoleAdmin {
		return forbidden{fmt.Errorf("metadata.labels[%s]: %q is looser than the cluster's level %q: only an admin may loosen a namespace's pod security", EnforceLabel, l, cl)}
	}
	return nil
}

func levelRank(l policy.Level) int {
	switch l {
	case policy.Privileged:
		return 0
	case policy.Baseline:
		return 1
	}
	return 2
}

// pendingNamespaces are the Namespaces an apply creates or changes.
func pendingNamespaces(objs []manifest.Object) map[string]*cluster.Object {
	out := map[string]*cluster.Object{}
	for _, o := range objs {
		if o.Generic != nil && o.Generic.Kind == cluster.KindNamespace {
			out[o.Name] = o.Generic
		}
	}
	return out
}

// admitTemplate checks a workload's pod template (its current one, or the
// one a rollback would bring back).
func admitTemplate(st *cluster.State, wl *cluster.Workload, tmpl *cluster.PodSpec, pending map[string]*cluster.Object) error {
	return policy.Explain(strings.ToLower(string(wl.Kind))+" "+wl.Name, "spec.template.spec", policy.Check(tmpl, policyFor(st, wl.Namespace, pending)))
}

func (s *Server) handleGetPolicy(w http.ResponseWriter, _ *http.Request) {
	opt := policyOptions(s.cfg.Store.State().Config())
	writeJSON(w, api.Policy{Level: string(opt.Level), AllowedHostPaths: opt.AllowedHostPaths})
}

func (s *Server) handleSetPolicy(w http.ResponseWriter, r *http.Request) {
	var req api.Policy
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	if _, err := policy.ParseLevel(req.Level); err != nil {
		fail(w, badRequest{fmt.Errorf("--level: %w", err)})
		return
	}
	// Pods already running stay: like Kubernetes' admission, the policy
	// judges what is applied from now on.
	s.commitOK(w, r, body, &consensus.SetPodSecurity{Level: req.Level, AllowedHostPaths: req.AllowedHostPaths})
}
