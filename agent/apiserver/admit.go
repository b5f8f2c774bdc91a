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

// admit checks an object's pods against the pod security policy; a
// refused object is named with every rule it breaks, and nothing of the
// apply is committed.
func admit(st *cluster.State, o manifest.Object) error {
	switch {
	case o.Workload != nil:
		return admitTemplate(st, o.Workload, &o.Workload.Template)
	case o.Pod != nil:
		return policy.Explain("pod "+o.Name, "spec", policy.Check(&o.Pod.Spec, policyOptions(st.Config())))
	}
	return nil
}

// admitTemplate checks a workload's pod template (its current one, or the
// one a rollback would bring back).
func admitTemplate(st *cluster.State, wl *cluster.Workload, tmpl *cluster.PodSpec) error {
	return policy.Explain(strings.ToLower(string(wl.Kind))+" "+wl.Name, "spec.template.spec", policy.Check(tmpl, policyOptions(st.Config())))
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
