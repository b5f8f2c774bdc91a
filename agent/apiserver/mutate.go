package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
)

// updateWorkload reads a workload, lets change edit a copy and commits
// it, unless change reports there is nothing to commit; then it answers
// with answer(), or {"status": "ok"} when answer is nil.
func (s *Server) updateWorkload(w http.ResponseWriter, r *http.Request, body []byte, change func(*cluster.Workload) (bool, error), answer func() any) {
	kind, err := workloadKind(r.PathValue("kind"))
	if err != nil {
		fail(w, err)
		return
	}
	ns, name := r.PathValue("ns"), r.PathValue("name")
	old, ok := s.cfg.Store.State().Workload(kind, ns, name)
	if !ok {
		fail(w, fmt.Errorf("%s %s/%s: %w", kind, ns, name, errNotFound))
		return
	}
	wl := old.Clone()
	commit, err := change(wl)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	if commit {
		// The FSM keeps the history: the command need not carry it.
		wl.History, wl.PreviousTemplate = nil, nil
		_, forwarded, err := s.commit(w, r, body, &consensus.PutWorkload{Workload: wl})
		if forwarded {
			return
		}
		if err != nil {
			fail(w, err)
			return
		}
	}
	if answer == nil {
		writeJSON(w, map[string]string{"status": "ok"})
		return
	}
	writeJSON(w, answer())
}

func (s *Server) handleScale(w http.ResponseWriter, r *http.Request) {
	var req api.ScaleRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	s.updateWorkload(w, r, body, func(wl *cluster.Workload) (bool, error) {
		if req.Replicas < 0 {
			return false, fmt.Errorf("replicas: must be 0 or more, got %d", req.Replicas)
		}
		if wl.Kind == cluster.KindDaemonSet {
			return false, fmt.Errorf("daemonset %s cannot be scaled: it runs one pod on every node that matches its nodeSelector", wl.Name)
		}
		wl.Replicas = req.Replicas
		return true, nil
	}, nil)
}

// handleResources changes container resources in the pod template. A
// change of cpu and memory only is resized in place (the FSM keeps the
// template's hash, the scheduler admits each pod's resize, its node
// applies it); ephemeral storage or GPUs roll the pods.
func (s *Server) handleResources(w http.ResponseWriter, r *http.Request) {
	var req api.ResourcesRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	if r.PathValue("kind") == "pods" {
		s.resizePod(w, r, body, req)
		return
	}
	s.updateWorkload(w, r, body, always(func(wl *cluster.Workload) error {
		if err := setContainerResources(wl.Template.Containers, req); err != nil {
			return fmt.Errorf("%w in %s %s", err, wl.Kind, wl.Name)
		}
		wl.TemplateHash = wl.TemplateID()
		return nil
	}), nil)
}

// setContainerResources applies req to containers (all, or the one it
// names).
func setContainerResources(containers []cluster.Container, req api.ResourcesRequest) error {
	found := false
	for i := range containers {
		c := &containers[i]
		if req.Container != "" && c.Name != req.Container {
			continue
		}
		found = true
		c.Requests = setResources(c.Requests, req.Requests, req.SetRequests)
		c.Limits = setResources(c.Limits, req.Limits, req.SetLimits)
		if c.Limits.GPU != c.Requests.GPU && c.Limits.GPU != 0 {
			c.Requests.GPU = c.Limits.GPU
		}
		if c.Limits.MilliCPU != 0 && c.Requests.MilliCPU > c.Limits.MilliCPU {
			return fmt.Errorf("container %s: cpu request %s exceeds its limit %s", c.Name, cluster.FormatMilliCPU(c.Requests.MilliCPU), cluster.FormatMilliCPU(c.Limits.MilliCPU))
		}
		if c.Limits.Memory != 0 && c.Requests.Memory > c.Limits.Memory {
			return fmt.Errorf("container %s: memory request %s exceeds its limit %s", c.Name, cluster.FormatBytes(c.Requests.Memory), cluster.FormatBytes(c.Limits.Memory))
		}
		if c.Limits.EphemeralStorage != 0 && c.Requests.EphemeralStorage > c.Limits.EphemeralStorage {
			return fmt.Errorf("container %s: ephemeral-storage request %s exceeds its limit %s", c.Name,
				cluster.FormatBytes(c.Requests.EphemeralStorage), cluster.FormatBytes(c.Limits.EphemeralStorage))
		}
	}
	if !found {
		return fmt.Errorf("container %q: not found", req.Container)
	}
	return nil
}

// resizePod asks for an in-place resize of a bare pod (`set resources
// pod/NAME`), on top of any resize it waits for; the scheduler admits it
// where the node has room. Only cpu and memory change in place.
func (s *Server) resizePod(w http.ResponseWriter, r *http.Request, body []byte, req api.ResourcesRequest) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	old, ok := s.cfg.Store.State().Pod(ns, name)
	if !ok {
		fail(w, fmt.Errorf("pod %s/%s: %w", ns, name, errNotFound))
		return
	}
	if old.Owner != nil {
		fail(w, badRequest{fmt.Errorf("pod %s is managed by %s %s; set the resources of the %s instead", name, old.Owner.Kind, old.Owner.Name, old.Owner.Kind)})
		return
	}
	spec := old.Spec.WithResources(old.DesiredResources)
	if err := setContainerResources(spec.Containers, req); err != nil {
		fail(w, badRequest{fmt.Errorf("%w in pod %s", err, name)})
		return
	}
	if !cluster.ResizeOnly(old.Spec, spec) {
		fail(w, badRequest{fmt.Errorf("pod %s: only cpu and memory change on a running pod (in place); for ephemeral-storage or nvidia.com/gpu delete and re-create it", name)})
		return
	}
	_, cmd, _ := resizePodCommand(old, old.Labels, old.Annotations, spec)
	if cmd != nil {
		if _, forwarded, err := s.commit(w, r, body, cmd); forwarded {
			return
		} else if err != nil {
			fail(w, err)
			return
		}
	}
	writeJSON(w, map[string]string{"status": "ok"})
}

// always is a change that is always committed.
func always(change func(*cluster.Workload) error) func(*cluster.Workload) (bool, error) {
	return func(wl *cluster.Workload) (bool, error) { return true, change(wl) }
}

func setResources(cur, given cluster.Resources, names []string) cluster.Resources {
	for _, n := range names {
		switch n {
		case cluster.ResourceCPU:
			cur.MilliCPU = given.MilliCPU
		case cluster.ResourceMemory:
			cur.Memory = given.Memory
		case cluster.ResourceEphemeralStorage:
			cur.EphemeralStorage = given.EphemeralStorage
		case cluster.ResourceGPU:
			cur.GPU = given.GPU
		}
	}
	return cur
}

// handleUndo puts a previous template back (`rollout undo`); the FSM
// gives it the next revision number, as Kubernetes does.
func (s *Server) handleUndo(w http.ResponseWriter, r *http.Request) {
	var req api.UndoRequest
	body, err := readBody(r, nil)
	if err == nil && len(bytes.TrimSpace(body)) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	var resp api.UndoResponse
	s.updateWorkload(w, r, body, func(wl *cluster.Workload) (bool, error) {
		target, current, err := wl.RollbackTarget(req.ToRevision)
		if err != nil {
			return false, err
		}
		resp.Revision, resp.Skipped = target.Revision, current
		if current {
			return false, nil
		}
		// The policy may have tightened since the old template ran.
		if err := admitTemplate(s.cfg.Store.State(), wl, &target.Template, nil); err != nil {
			return false, err
		}
		wl.Template, wl.TemplateLabels, wl.TemplateAnnotations = target.Template, target.Labels, target.Annotations
		wl.TemplateHash = wl.TemplateID()
		return true, nil
	}, func() any { return resp })
}

// handleHistory lists a workload's revisions (`rollout history`).
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	_, wl, ok := s.readWorkload(w, r)
	if !ok {
		return
	}
	h := api.RolloutHistory{Limit: wl.HistoryLimit()}
	for _, rev := range wl.Revisions() {
		h.Revisions = append(h.Revisions, api.RevisionInfo{Revision: rev.Revision, ChangeCause: rev.ChangeCause})
	}
	cur := wl.CurrentRevision()
	h.Revisions = append(h.Revisions, api.RevisionInfo{Revision: cur.Revision, ChangeCause: cur.ChangeCause, Current: true})
	writeJSON(w, h)
}

func (s *Server) handleNodeAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	st := s.cfg.Store.State()
	if _, ok := st.Node(name); !ok {
		fail(w, fmt.Errorf("node %q: %w", name, errNotFound))
		return
	}
	var cmds []consensus.Command
	switch action {
	case "cordon":
		cmds = append(cmds, &consensus.SetNodeSchedulable{Name: name, Schedulable: false})
	case "uncordon":
		cmds = append(cmds, &consensus.SetNodeSchedulable{Name: name, Schedulable: true})
	case "drain":
		s.drain(w, r, st, name)
		return
	default:
		fail(w, badRequest{fmt.Errorf("unknown node action %q (cordon, uncordon, drain)", action)})
		return
	}
	s.commitOK(w, r, nil, cmds...)
}

// drain cordons a node and evicts its pods, in one entry so that no
// replacement lands back on it; the FSM leaves the pods whose eviction a
// PodDisruptionBudget forbids, and the answer names them and why.
func (s *Server) drain(w http.ResponseWriter, r *http.Request, st *cluster.State, node string) {
	cmds := []consensus.Command{&consensus.SetNodeSchedulable{Name: node, Schedulable: false}}
	var refs []cluster.PodRef
	var daemons []string
	for _, p := range st.PodsOnNode(node) {
		switch {
		case p.Terminating:
		case p.DaemonNode != "":
			// DaemonSet pods stay, as with kubectl's --ignore-daemonsets:
			// they tolerate the cordon, and their set would make them again.
			daemons = append(daemons, p.Key())
		default:
			refs = append(refs, p.Ref())
		}
	}
	if len(refs) > 0 {
		cmds = append(cmds, &consensus.EvictPods{Pods: refs})
	}
	res, forwarded, err := s.commit(w, r, nil, cmds...)
	switch {
	case forwarded:
	case err != nil:
		fail(w, err)
	case len(res) < 2:
		writeJSON(w, api.DrainResponse{Ignored: daemons})
	default:
		writeJSON(w, api.DrainResponse{Evicted: res[1].Changed, Blocked: res[1].Blocked, Ignored: daemons})
	}
}

// handleTaint changes a node's taints; the FSM checks them.
func (s *Server) handleTaint(w http.ResponseWriter, r *http.Request) {
	var req api.TaintRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	name := r.PathValue("name")
	if _, ok := s.cfg.Store.State().Node(name); !ok {
		fail(w, fmt.Errorf("node %q: %w", name, errNotFound))
		return
	}
	s.commitOK(w, r, body, &consensus.TaintNode{Name: name, Add: req.Add, Remove: req.Remove})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	var cmd consensus.PodStatus
	body, err := readBody(r, &cmd)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	// The FSM skips updates for pods not placed on cmd.Node, so a node
	// that reports only as itself reaches only its own pods.
	if err := actsForSelf(r, cmd.Node); err != nil {
		fail(w, err)
		return
	}
	s.commitOK(w, r, body, &cmd)
}

// handleForgetClaims removes the tombstones of released claims whose data
// the calling node has deleted; a node forgets only its own.
func (s *Server) handleForgetClaims(w http.ResponseWriter, r *http.Request) {
	var cmd consensus.ForgetClaims
	body, err := readBody(r, &cmd)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	if err := actsForSelf(r, cmd.Node); err != nil {
		fail(w, err)
		return
	}
	s.commitOK(w, r, body, &cmd)
}

func (s *Server) handlePutNode(w http.ResponseWriter, r *http.Request) {
	var n cluster.Node
	body, err := readBody(r, &n)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	if n.Name != r.PathValue("name") {
		fail(w, badRequest{fmt.Errorf("node name %q does not match the path", n.Name)})
		return
	}
	if err := actsForSelf(r, n.Name); err != nil {
		fail(w, err)
		return
	}
	s.commitOK(w, r, body, &consensus.PutNode{Node: &n})
}
