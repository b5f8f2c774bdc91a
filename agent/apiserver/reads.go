package apiserver

import (
	"context"
	"fmt"
	"net/http"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
)

func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	st, answered := s.readState(w, r)
	if answered {
		return
	}
	roles, conds := s.raftRoles(), s.conditions()
	out := api.List[api.NodeView]{Index: st.Index(), Items: []api.NodeView{}}
	for _, n := range st.Nodes() {
		v := nodeView(st, n)
		v.Conditions = conds[n.Name]
		if r, ok := roles[n.Name]; ok || roles != nil {
			// The role is live Raft configuration, not replicated state:
			// fill it in on a copy.
			c := n.Clone()
			c.Raft = r
			v.Node = c
		}
		out.Items = append(out.Items, v)
	}
	writeJSON(w, out)
}

// raftInfo is what a consensus.Store tells of the Raft configuration:
// its own when it is a live member, else as the state stream named it.
type raftInfo interface {
	StreamServers() []consensus.Server
	Leader() (addr, id string)
}

// raftRoles maps node names to leader, voter or nonvoter, and the other
// nodes to client once the members are known; nil when the store cannot
// tell.
func (s *Server) raftRoles() map[string]string {
	ri, ok := s.cfg.Store.(raftInfo)
	if !ok {
		return nil
	}
	servers := ri.StreamServers()
	if len(servers) == 0 {
		return nil
	}
	_, leader := ri.Leader()
	roles := map[string]string{}
	for _, n := range s.cfg.Store.State().Nodes() {
		roles[n.Name] = cluster.RaftClient
	}
	for _, sv := range servers {
		switch {
		case sv.ID == leader:
			roles[sv.ID] = cluster.RaftLeader
		case sv.Voter:
			roles[sv.ID] = cluster.RaftVoter
		default:
			roles[sv.ID] = cluster.RaftNonvoter
		}
	}
	return roles
}

func nodeView(st *cluster.State, n *cluster.Node) api.NodeView {
	u := cluster.UsageOf(st.PodsOnNode(n.Name))
	return api.NodeView{Node: n, Requested: u.Requested, Pods: u.Pods, GPUHolders: u.GPUs}
}

func (s *Server) handlePods(w http.ResponseWriter, r *http.Request) {
	st, answered := s.readState(w, r)
	if answered {
		return
	}
	ns := r.URL.Query().Get("namespace")
	out := api.List[*cluster.Pod]{Index: st.Index(), Items: []*cluster.Pod{}}
	for p := range st.Pods() {
		if ns == "" || p.Namespace == ns {
			out.Items = append(out.Items, p)
		}
	}
	writeJSON(w, out)
}

func (s *Server) handleServices(w http.ResponseWriter, r *http.Request) {
	st, answered := s.readState(w, r)
	if answered {
		return
	}
	ns := r.URL.Query().Get("namespace")
	out := api.List[*cluster.Service]{Index: st.Index(), Items: []*cluster.Service{}}
	// A LoadBalancer's status is the nodes of the moment, never stored.
	ingress := cluster.LoadBalancerIngress(st.Nodes())
	for _, svc := range st.Services() {
		if ns != "" && svc.Namespace != ns {
			continue
		}
		if svc.Type == cluster.ServiceTypeLoadBalancer {
			svc = svc.Clone()
			svc.LoadBalancerIngress = ingress
		}
		out.Items = append(out.Items, svc)
	}
	writeJSON(w, out)
}

func (s *Server) handleWorkloads(kind cluster.WorkloadKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, answered := s.readState(w, r)
		if answered {
			return
		}
		ns := r.URL.Query().Get("namespace")
		out := api.List[api.WorkloadView]{Index: st.Index(), Items: []api.WorkloadView{}}
		for _, wl := range st.WorkloadsOfKind(kind) {
			if ns == "" || wl.Namespace == ns {
				out.Items = append(out.Items, api.WorkloadView{Workload: wl, Status: workloadStatus(st, wl)})
			}
		}
		writeJSON(w, out)
	}
}

// workloadStatus counts a workload's live pods as Kubernetes does: all of
// them, the ready ones, and those of the current template.
func workloadStatus(st *cluster.State, wl *cluster.Workload) api.WorkloadStatus {
	var ws api.WorkloadStatus
	if wl.Kind == cluster.KindDaemonSet {
		c := cluster.CountDaemons(wl, st.PodsOwnedBy(wl.UID), cluster.DesiredDaemons(wl, st.Nodes()))
		ws.Daemon = &c
	}
	for _, p := range st.PodsOwnedBy(wl.UID) {
		if p.Terminating {
			continue
		}
		ws.Replicas++
		current := p.TemplateHash == wl.TemplateHash
		if current {
			ws.Updated++
		}
		if p.Ready() {
			ws.Ready++
		}
		if current && wl.PodAvailable(p) {
			ws.Available++
		}
	}
	return ws
}

// readWorkload finds the workload a read's path names; ok is false when
// it has answered (not found, forwarded).
func (s *Server) readWorkload(w http.ResponseWriter, r *http.Request) (*cluster.State, *cluster.Workload, bool) {
	kind, err := workloadKind(r.PathValue("kind"))
	if err != nil {
		fail(w, err)
		return nil, nil, false
	}
	st, answered := s.readState(w, r)
	if answered {
		return nil, nil, false
	}
	ns, name := r.PathValue("ns"), r.PathValue("name")
	wl, ok := st.Workload(kind, ns, name)
	if !ok {
		fail(w, fmt.Errorf("%s %s/%s: %w", kind, ns, name, errNotFound))
		return nil, nil, false
	}
	return st, wl, true
}

func (s *Server) handleRollout(w http.ResponseWriter, r *http.Request) {
	if st, wl, ok := s.readWorkload(w, r); ok {
		writeJSON(w, rolloutStatus(st, wl))
	}
}

// rolloutStatus speaks as `kubectl rollout status` does.
func rolloutStatus(st *cluster.State, wl *cluster.Workload) api.RolloutStatus {
	ws := workloadStatus(st, wl)
	lower := map[cluster.WorkloadKind]string{cluster.KindDeployment: "deployment", cluster.KindStatefulSet: "statefulset", cluster.KindDaemonSet: "daemon set"}[wl.Kind]
	if d := ws.Daemon; d != nil {
		return daemonRolloutStatus(wl, d)
	}
	var old int32
	for _, p := range st.PodsOwnedBy(wl.UID) {
		if p.TemplateHash != wl.TemplateHash || p.Terminating {
			old++
		}
	}
	switch {
	case ws.Updated < wl.Replicas:
		return api.RolloutStatus{Message: fmt.Sprintf("Waiting for %s %q rollout to finish: %d out of %d new replicas have been updated...", lower, wl.Name, ws.Updated, wl.Replicas)}
	case old > 0:
		return api.RolloutStatus{Message: fmt.Sprintf("Waiting for %s %q rollout to finish: %d old replicas are pending termination...", lower, wl.Name, old)}
	case ws.Available < wl.Replicas:
		return api.RolloutStatus{Message: fmt.Sprintf("Waiting for %s %q rollout to finish: %d of %d updated replicas are available...", lower, wl.Name, ws.Available, wl.Replicas)}
	}
	return api.RolloutStatus{Done: true, Message: fmt.Sprintf("%s %q successfully rolled out", lower, wl.Name)}
}

// daemonRolloutStatus speaks as `kubectl rollout status daemonset` does.
func daemonRolloutStatus(wl *cluster.Workload, d *cluster.DaemonCounts) api.RolloutStatus {
	switch {
	case d.Updated < d.Desired:
		return api.RolloutStatus{Message: fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", wl.Name, d.Updated, d.Desired)}
	case d.Available < d.Desired:
		return api.RolloutStatus{Message: fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", wl.Name, d.Available, d.Desired)}
	}
	return api.RolloutStatus{Done: true, Message: fmt.Sprintf("daemon set %q successfully rolled out", wl.Name)}
}

func workloadKind(plural string) (cluster.WorkloadKind, error) {
	switch plural {
	case "deployments":
		return cluster.KindDeployment, nil
	case "statefulsets":
		return cluster.KindStatefulSet, nil
	case "daemonsets":
		return cluster.KindDaemonSet, nil
	case "replicasets":
		return cluster.KindReplicaSet, nil
	case "jobs":
		return cluster.KindJob, nil
	case "cronjobs":
		return cluster.KindCronJob, nil
	}
	return "", badRequest{fmt.Errorf("%q is not a workload kind (deployments, statefulsets, daemonsets, replicasets, jobs, cronjobs)", plural)}
}

// linearizer is what a consensus.Store offers for linearizable reads.
type linearizer interface {
	IsLeader() bool
	Barrier(ctx context.Context) error
}

// readState is the state a read answers from: the local copy (which may
// trail the leader by a few milliseconds), or with ?consistent=1 the
// leader's after a barrier, forwarding the request there when this agent
// does not lead (answered=true then).
func (s *Server) readState(w http.ResponseWriter, r *http.Request) (*cluster.State, bool) {
	if r.URL.Query().Get("consistent") == "" {
		return s.cfg.Store.State(), false
	}
	lin, ok := s.cfg.Store.(linearizer)
	if !ok {
		return s.cfg.Store.State(), false
	}
	if s.forwardToLeader(w, r, nil) {
		return nil, true
	}
	if err := lin.Barrier(r.Context()); err != nil {
		fail(w, fmt.Errorf("consistent read: %w", err))
		return nil, true
	}
	return s.cfg.Store.State(), false
}
