package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/manifest"
)

// decodeFiles decodes every file of a request; nothing is returned unless
// all of it decodes, so that a bad apply changes nothing.
func decodeFiles(files []api.File) ([]manifest.Object, error) {
	if len(files) == 0 {
		return nil, badRequest{errors.New("no manifest files given")}
	}
	var objs []manifest.Object
	var errs []error
	seen := map[string]string{}
	for _, f := range files {
		got, err := manifest.Decode([]byte(f.Data), f.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range got {
			key := o.Kind + "/" + o.Namespace + "/" + o.Name
			if first, dup := seen[key]; dup {
				errs = append(errs, fmt.Errorf("%s: duplicate %s %q in namespace %q (first at %s)", o.Where(), o.Kind, o.Name, o.Namespace, first))
				continue
			}
			seen[key] = o.Where()
			objs = append(objs, o)
		}
	}
	if len(errs) > 0 {
		return nil, badRequest{errors.Join(errs...)}
	}
	if len(objs) == 0 {
		return nil, badRequest{errors.New("no objects in the given files")}
	}
	return objs, nil
}

var kindNames = map[string]struct{ group, plural string }{
	manifest.KindDeployment:  {"deployment.apps", "deployments"},
	manifest.KindStatefulSet: {"statefulset.apps", "statefulsets"},
	manifest.KindDaemonSet:   {"daemonset.apps", "daemonsets"},
	manifest.KindReplicaSet:  {"replicaset.apps", "replicasets"},
	manifest.KindJob:         {"job.batch", "jobs"},
	manifest.KindCronJob:     {"cronjob.batch", "cronjobs"},
	manifest.KindPod:         {"pod", "pods"},
	manifest.KindService:     {"service", "services"},
}

// readManifests reads and decodes the manifest files of an apply or
// delete request; on failure it has answered already.
func (s *Server) readManifests(w http.ResponseWriter, r *http.Request) ([]manifest.Object, []byte, bool) {
	objs, body, dryRun, ok := s.readApply(w, r)
	if ok && dryRun {
		// A client that thinks it asks for a dry run must not delete.
		fail(w, badRequest{errors.New("dryRun: not supported here (apply only)")})
		return nil, nil, false
	}
	return objs, body, ok
}

// readApply is readManifests that also says whether the request is a dry
// run.
func (s *Server) readApply(w http.ResponseWriter, r *http.Request) (objs []manifest.Object, body []byte, dryRun, ok bool) {
	var req api.ApplyRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return nil, nil, false, false
	}
	objs, err = decodeFiles(req.Files)
	if err != nil {
		fail(w, err)
		return nil, nil, false, false
	}
	return objs, body, req.DryRun, true
}

// commitObjects commits what an apply or delete decided (forwarding to the
// leader when this agent does not lead) and answers with resp.
func (s *Server) commitObjects(w http.ResponseWriter, r *http.Request, body []byte, cmds []consensus.Command, resp api.ApplyResponse) {
	if len(cmds) > 0 {
		res, forwarded, err := s.commit(w, r, body, cmds...)
		if forwarded {
			return
		}
		if err != nil {
			fail(w, err)
			return
		}
		resp.Index = res[len(res)-1].Index
	}
	writeJSON(w, resp)
}

func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) {
	objs, body, dryRun, ok := s.readApply(w, r)
	if !ok {
		return
	}
	// The leader decides against the newest state, and seals Secrets with
	// the key it made active (a follower may not hold it yet).
	if s.forwardToLeader(w, r, body) {
		return
	}
	st := s.cfg.Store.State()
	now := s.cfg.Now().UTC()
	var cmds []consensus.Command
	where := map[consensus.Command]string{} // the object each command stores
	resp := api.ApplyResponse{DryRun: dryRun}
	errs := checkNamespaces(st, objs)
	pending := pendingNamespaces(objs)
	caller, _ := CallerOf(r.Context())
	for _, o := range objs {
		verb, cmd, err := s.applyOne(st, o, now)
		if err == nil && cmd != nil {
			err = checkSize(cmd)
		}
		if err == nil && cmd != nil {
			err = admit(st, o, pending, caller)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Where(), err))
			continue
		}
		kn := kindNames[o.Kind]
		resp.Results = append(resp.Results, fmt.Sprintf("%s/%s %s", kn.group, o.Name, verb))
		resp.Objects = append(resp.Objects, api.ObjectRef{Resource: kn.plural, Namespace: o.Namespace, Name: o.Name})
		if cmd != nil {
			cmds = append(cmds, cmd)
			where[cmd] = o.Where()
		}
		if warn := o.Warning(); warn != "" {
			resp.Warnings = append(resp.Warnings, warn)
		}
	}
	namespacesFirst(cmds)
	if dryRun || len(errs) > 0 {
		// What the FSM would say, on a copy of the state: for a dry run,
		// and so that a refused apply reports the FSM's refusals of its
		// other objects too, in one answer.
		for i, res := range consensus.Try(st, cmds...) {
			if res.Err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where[cmds[i]], res.Err))
			}
		}
	}
	if len(errs) > 0 {
		fail(w, badRequest{errors.Join(errs...)})
		return
	}
	if dryRun {
		resp.Index = st.Index()
		writeJSON(w, resp)
		return
	}
	s.commitObjects(w, r, body, cmds, resp)
}

// applyOne turns one object into the command that stores it, keeping the
// identity (UID, creation time) of what is already there.
func (s *Server) applyOne(st *cluster.State, o manifest.Object, t time.Time) (string, consensus.Command, error) {
	switch {
	case o.Generic != nil:
		return s.applyObject(st, o, t)
	case o.Workload != nil:
		wl := o.Workload.Clone()
		old, ok := st.Workload(wl.Kind, wl.Namespace, wl.Name)
		if !ok {
			wl.UID, wl.CreatedAt = s.cfg.NewUID(), t
			return "created", &consensus.PutWorkload{Workload: wl}, nil
		}
		wl.UID, wl.CreatedAt = old.UID, old.CreatedAt
		if sameWorkload(old, wl) {
			return "unchanged", nil, nil
		}
		if !maps.Equal(old.Selector, wl.Selector) {
			return "", nil, badRequest{fmt.Errorf("spec.selector: field is immutable (was %v); delete and re-create the %s", old.Selector, wl.Kind)}
		}
		return "configured", &consensus.PutWorkload{Workload: wl}, nil
	case o.Service != nil:
		svc := o.Service.Clone()
		old, ok := st.Service(svc.Namespace, svc.Name)
		if !ok {
			old = nil
		}
		// As the FSM will (it allocates the missing ones): an unchanged
		// re-apply without nodePorts or clusterIP keeps them, and a node
		// port taken is refused here, with the object's place.
		cluster.KeepNodePorts(svc, old)
		cluster.KeepClusterIP(svc, old)
		if err := cluster.NodePortConflict(svc, st.Services()); err != nil {
			return "", nil, badRequest{err}
		}
		if old == nil {
			svc.UID = s.cfg.NewUID()
			return "created", &consensus.PutService{Service: svc}, nil
		}
		svc.UID = old.UID
		if sameJSON(stripService(old), stripService(svc)) {
			return "unchanged", nil, nil
		}
		return "configured", &consensus.PutService{Service: svc}, nil
	case o.Pod != nil:
		p := o.Pod.Clone()
		old, ok := st.Pod(p.Namespace, p.Name)
		if !ok {
			p.UID, p.CreatedAt, p.Ordinal = s.cfg.NewUID(), t, -1
			if p.TemplateHash == "" {
				p.TemplateHash = cluster.HashTemplate(p.Spec, p.Labels)
			}
			return "created", &consensus.PutPods{Pods: []*cluster.Pod{p}}, nil
		}
		if old.Owner != nil {
			return "", nil, badRequest{fmt.Errorf("pod %s is managed by %s %s; change the %s instead", p.Name, old.Owner.Kind, old.Owner.Name, old.Owner.Kind)}
		}
		if cluster.ResizeOnly(old.Spec, p.Spec) {
			// Metadata may change on a running pod, as in Kubernetes, and
			// so may its containers' cpu and memory (resized in place); its
			// template hash stays, so its containers are not recreated.
			return resizePodCommand(old, p.Labels, p.Annotations, p.Spec)
		}
		return "", nil, badRequest{fmt.Errorf("pod %s exists and a running pod's spec cannot change beyond its containers' cpu and memory (resized in place); delete it first (shoal delete pod %s)", p.Name, p.Name)}
	}
	return "", nil, badRequest{fmt.Errorf("nothing to apply")}
}

// sameWorkload compares what a user can change, not what the cluster
// stamps (indexes, generation, history).
// resizePodCommand asks for an in-place resize of a bare pod: the scheduler
// admits it when the node has room (see cluster.Pod.DesiredResources).
// Asking for what the pod has already withdraws a resize not yet admitted.
func resizePodCommand(old *cluster.Pod, labels, annotations map[string]string, spec cluster.PodSpec) (string, consensus.Command, error) {
	upd := old.Clone()
	upd.Labels, upd.Annotations = labels, annotations
	upd.DesiredResources = spec.ContainerResources()
	if !old.Spec.ResourcesDiffer(upd.DesiredResources) {
		upd.DesiredResources = nil
	}
	if sameJSON(old, upd) {
		return "unchanged", nil, nil
	}
	return "configured", &consensus.PutPods{Pods: []*cluster.Pod{upd}}, nil
}

func sameWorkload(a, b *cluster.Workload) bool {
	strip := func(w *cluster.Workload) *cluster.Workload {
		c := w.Clone()
		c.CreateIndex, c.ModifyIndex, c.Generation = 0, 0, 0
		c.Revision, c.History, c.PreviousTemplate = 0, nil, nil
		c.JobStatus, c.CronStatus, c.Owner = nil, nil, nil // the leader's
		// The FSM's: a resized template keeps the hash it had.
		c.TemplateHash = ""
		return c
	}
	return sameJSON(strip(a), strip(b))
}

func stripService(s *cluster.Service) *cluster.Service {
	c := s.Clone()
	c.CreateIndex, c.ModifyIndex = 0, 0
	return c
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func (s *Server) handleDeleteFiles(w http.ResponseWriter, r *http.Request) {
	objs, body, ok := s.readManifests(w, r)
	if !ok {
		return
	}
	st := s.cfg.Store.State()
	var cmds []consensus.Command
	resp := api.ApplyResponse{}
	for _, o := range objs {
		kn := kindNames[o.Kind]
		cmd, found := deleteCommand(st, kn.plural, o.Namespace, o.Name)
		verb := "deleted"
		if !found {
			verb = "not found"
		} else {
			cmds = append(cmds, cmd)
		}
		resp.Results = append(resp.Results, fmt.Sprintf("%s/%s %s", kn.group, o.Name, verb))
		resp.Objects = append(resp.Objects, api.ObjectRef{Resource: kn.plural, Namespace: o.Namespace, Name: o.Name})
	}
	s.commitObjects(w, r, body, cmds, resp)
}

// deleteCommand builds the command deleting one object, if it exists.
func deleteCommand(st *cluster.State, plural, ns, name string) (consensus.Command, bool) {
	switch plural {
	case "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs":
		kind, _ := workloadKind(plural)
		if _, ok := st.Workload(kind, ns, name); !ok {
			return nil, false
		}
		return &consensus.DeleteWorkload{Kind: kind, Namespace: ns, Name: name}, true
	case "services":
		if _, ok := st.Service(ns, name); !ok {
			return nil, false
		}
		return &consensus.DeleteService{Namespace: ns, Name: name}, true
	case "pods":
		p, ok := st.Pod(ns, name)
		if !ok {
			return nil, false
		}
		return &consensus.TerminatePods{Pods: []cluster.PodRef{p.Ref()}}, true
	}
	if r, ok := objectResources[plural]; ok {
		if !r.kind.Namespaced() {
			ns = ""
		}
		if _, ok := st.Object(r.kind, ns, name); !ok {
			return nil, false
		}
		return &consensus.DeleteObject{Kind: r.kind, Namespace: ns, Name: name}, true
	}
	return nil, false
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	plural, ns, name := r.PathValue("kind"), r.PathValue("ns"), r.PathValue("name")
	if _, ok := objectResources[plural]; !ok && !slices.Contains([]string{"deployments", "statefulsets", "daemonsets", "replicasets", "services", "pods"}, plural) {
		fail(w, badRequest{fmt.Errorf("cannot delete %q (pods, deployments, statefulsets, daemonsets, replicasets, services, configmaps, secrets, namespaces, serviceaccounts, roles, rolebindings, clusterroles, clusterrolebindings)", plural)})
		return
	}
	cmd, ok := deleteCommand(s.cfg.Store.State(), plural, ns, name)
	if !ok {
		fail(w, fmt.Errorf("%s %q in namespace %q: %w", plural[:len(plural)-1], name, ns, errNotFound))
		return
	}
	res, forwarded, err := s.commit(w, r, nil, cmd)
	if forwarded {
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	group := ""
	for _, kn := range kindNames {
		if kn.plural == plural {
			group = kn.group
		}
	}
	writeJSON(w, api.ApplyResponse{Results: []string{fmt.Sprintf("%s/%s deleted", group, name)}, Index: res[0].Index})
}

// checkSize refuses an object too large to replicate (see
// consensus.MaxObjectBytes).
func checkSize(cmd consensus.Command) error {
	n, err := consensus.EncodedSize(cmd)
	if err != nil {
		return err
	}
	if n > consensus.MaxObjectBytes {
		return badRequest{fmt.Errorf("object is %d bytes once stored; the limit is %d (1 MiB): keep large data out of manifests", n, consensus.MaxObjectBytes)}
	}
	return nil
}
