package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
)

// updateWorkload reads a workload, lets change edit a copy and commits it.
func (s *Server) updateWorkload(w http.ResponseWriter, r *http.Request, body []byte, change func(*cluster.Workload) error) {
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
	if err := change(wl); err != nil {
		fail(w, badRequest{err})
		return
	}
	s.commitOK(w, r, body, &consensus.PutWorkload{Workload: wl})
}

func (s *Server) handleScale(w http.ResponseWriter, r *http.Request) {
	var req api.ScaleRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	s.updateWorkload(w, r, body, func(wl *cluster.Workload) error {
		if req.Replicas < 0 {
			return fmt.Errorf("replicas: must be 0 or more, got %d", req.Replicas)
		}
		wl.Replicas = req.Replicas
		return nil
	})
}

// handleResources changes container resources in the pod template: the
// pods are replaced by a rollout with the new requests and limits.
func (s *Server) handleResources(w http.ResponseWriter, r *http.Request) {
	var req api.ResourcesRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	s.updateWorkload(w, r, body, func(wl *cluster.Workload) error {
		found := false
		for i := range wl.Template.Containers {
			c := &wl.Template.Containers[i]
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
			return fmt.Errorf("container %q: not in %s %s", req.Container, wl.Kind, wl.Name)
		}
		prev := wl.Template.Clone()
		wl.PreviousTemplate = &prev
		wl.TemplateHash = cluster.HashTemplate(wl.Template, wl.TemplateLabels)
		return nil
	})
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

func (s *Server) handleUndo(w http.ResponseWriter, r *http.Request) {
	body, _ := readBody(r, nil)
	s.updateWorkload(w, r, body, func(wl *cluster.Workload) error {
		if wl.PreviousTemplate == nil {
			return errors.New("no previous template to roll back to")
		}
		// The policy may have tightened since the old template ran.
		if err := admitTemplate(s.cfg.Store.State(), wl, wl.PreviousTemplate, nil); err != nil {
			return badRequest{err}
		}
		wl.Template = wl.PreviousTemplate.Clone()
		wl.TemplateHash = cluster.HashTemplate(wl.Template, wl.TemplateLabels)
		return nil
	})
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
		// Cordon first, in the same entry, so that no replacement lands
		// back on the node being emptied.
		cmds = append(cmds, &consensus.SetNodeSchedulable{Name: name, Schedulable: false})
		var refs []cluster.PodRef
		for _, p := range st.PodsOnNode(name) {
			if !p.Terminating {
				refs = append(refs, p.Ref())
			}
		}
		if len(refs) > 0 {
			cmds = append(cmds, &consensus.TerminatePods{Pods: refs})
		}
	default:
		fail(w, badRequest{fmt.Errorf("unknown node action %q (cordon, uncordon, drain)", action)})
		return
	}
	s.commitOK(w, r, nil, cmds...)
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
