package consensus

import (
	"errors"
	"strings"
	"testing"

	"shoal/cluster"
)

func nsObj(name string) *cluster.Object {
	return &cluster.Object{Kind: cluster.KindNamespace, Name: name, UID: "ns-" + name}
}

func cmObj(ns, name string) *cluster.Object {
	return &cluster.Object{Kind: cluster.KindConfigMap, Namespace: ns, Name: name, UID: "cm-" + ns + "-" + name,
		Data: map[string]string{"k": "v"}}
}

func hpaObj(st *cluster.AutoscalerStatus) *cluster.Object {
	return &cluster.Object{Kind: cluster.KindHorizontalPodAutoscaler, Namespace: "default", Name: "web", UID: "hpa-web",
		Autoscaler: &cluster.Autoscaler{TargetKind: cluster.KindDeployment, TargetName: "web", MinReplicas: 1, MaxReplicas: 3, Status: st}}
}

func TestObjectCommands(t *testing.T) {
	inShop := func(w *cluster.Workload) *cluster.Workload { w.Namespace = "shop"; return w }
	tests := []struct {
		name  string
		setup []Command
		cmd   Command
		check func(t *testing.T, s *cluster.State, r Result)
	}{
		{
			name: "a namespace and its contents in one command",
			cmd:  &PutObjects{Objects: []*cluster.Object{nsObj("shop"), cmObj("shop", "cfg")}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if _, ok := s.Object(cluster.KindConfigMap, "shop", "cfg"); !ok || r.Err != nil || !s.NamespaceExists("shop") {
					t.Errorf("result %+v", r)
				}
			},
		},
		{
			name: "an object in a missing namespace is refused, with what came before it",
			cmd:  &PutObjects{Objects: []*cluster.Object{cmObj("default", "a"), cmObj("shop", "cfg")}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if !errors.Is(r.Err, ErrInvalid) || len(s.AllObjects()) != 0 {
					t.Errorf("err %v, objects %v", r.Err, s.AllObjects())
				}
			},
		},
		{
			name: "a workload in a missing namespace is refused",
			cmd:  &PutWorkload{Workload: inShop(testWorkload("web", 1, "nginx"))},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if !errors.Is(r.Err, ErrInvalid) || len(s.Workloads()) != 0 {
					t.Errorf("err %v", r.Err)
				}
			},
		},
		{
			name:  "applying an autoscaler again keeps the status the leader wrote",
			setup: []Command{&PutObjects{Objects: []*cluster.Object{hpaObj(&cluster.AutoscalerStatus{DesiredReplicas: 3})}}},
			cmd:   &PutObjects{Objects: []*cluster.Object{hpaObj(nil)}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				o, ok := s.Object(cluster.KindHorizontalPodAutoscaler, "default", "web")
				if r.Err != nil || !ok || o.Autoscaler.Status == nil || o.Autoscaler.Status.DesiredReplicas != 3 {
					t.Errorf("err %v, object %+v", r.Err, o)
				}
			},
		},
		{
			name: "built-in namespaces exist",
			cmd:  &PutObjects{Objects: []*cluster.Object{cmObj("kube-system", "a")}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if r.Err != nil {
					t.Error(r.Err)
				}
			},
		},
		{
			name:  "an update keeps the identity",
			setup: []Command{&PutObjects{Objects: []*cluster.Object{cmObj("default", "a")}}},
			cmd: &PutObjects{Objects: []*cluster.Object{func() *cluster.Object {
				o := cmObj("default", "a")
				o.UID, o.Data = "other", map[string]string{"k": "v2"}
				return o
			}()}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				o, _ := s.Object(cluster.KindConfigMap, "default", "a")
				if o.UID != "cm-default-a" || o.Data["k"] != "v2" || o.CreateIndex == o.ModifyIndex {
					t.Errorf("object %+v", o)
				}
			},
		},
		{
			name: "a secret must be sealed",
			cmd: &PutObjects{Objects: []*cluster.Object{{Kind: cluster.KindSecret, Namespace: "default", Name: "s", UID: "s1",
				SecretKeys: []string{"password"}}}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if !errors.Is(r.Err, ErrInvalid) {
					t.Errorf("err %v", r.Err)
				}
			},
		},
		{
			name: "cluster-wide kinds have no namespace",
			cmd:  &PutObjects{Objects: []*cluster.Object{{Kind: cluster.KindClusterRole, Namespace: "default", Name: "r", UID: "r1"}}},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if !errors.Is(r.Err, ErrInvalid) {
					t.Errorf("err %v", r.Err)
				}
			},
		},
		{
			name: "deleting a namespace deletes what is in it, and only that",
			setup: []Command{
				&PutObjects{Objects: []*cluster.Object{nsObj("shop"), cmObj("shop", "cfg"), cmObj("default", "cfg")}},
				&PutWorkload{Workload: inShop(testWorkload("web", 1, "nginx"))},
				&PutWorkload{Workload: testWorkload("web", 1, "nginx")},
				&PutService{Service: &cluster.Service{Namespace: "shop", Name: "web", UID: "s1", Selector: map[string]string{"app": "web"}}},
				&PutPods{Pods: []*cluster.Pod{func() *cluster.Pod { p := placed(testPod("bare", 10, 0, 0), ""); p.Namespace = "shop"; return p }()}},
			},
			cmd: &DeleteObject{Kind: cluster.KindNamespace, Name: "shop"},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				_, cm := s.Object(cluster.KindConfigMap, "shop", "cfg")
				_, other := s.Object(cluster.KindConfigMap, "default", "cfg")
				_, wl := s.Workload(cluster.KindDeployment, "shop", "web")
				_, keep := s.Workload(cluster.KindDeployment, "default", "web")
				_, svc := s.Service("shop", "web")
				p, _ := s.Pod("shop", "bare")
				if cm || wl || svc || s.NamespaceExists("shop") || !other || !keep {
					t.Errorf("configmap %v workload %v service %v namespace %v; default's kept: %v %v", cm, wl, svc, s.NamespaceExists("shop"), other, keep)
				}
				if p != nil && !p.Terminating {
					t.Errorf("pod %+v not stopping", p)
				}
			},
		},
		{
			name: "built-in namespaces cannot be deleted",
			cmd:  &DeleteObject{Kind: cluster.KindNamespace, Name: "default"},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if !errors.Is(r.Err, ErrNotFound) && !errors.Is(r.Err, ErrInvalid) {
					t.Errorf("err %v", r.Err)
				}
			},
		},
		{
			name: "SetSecretKey names the active key",
			cmd:  &SetSecretKey{ID: "k2"},
			check: func(t *testing.T, s *cluster.State, r Result) {
				if s.Trust().SecretKeyID != "k2" {
					t.Errorf("trust %+v", s.Trust())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for _, c := range tt.setup {
				h.must(c)
			}
			r := h.apply(tt.cmd)[0]
			tt.check(t, h.state(), r)
		})
	}
}

func TestEvictPodsKeepsBudgets(t *testing.T) {
	h := newHarness(t)
	var refs []cluster.PodRef
	var pods []*cluster.Pod
	for _, n := range []string{"zk-0", "zk-1", "zk-2"} {
		p := placed(testPod(n, 10, 0, 0), "")
		p.Labels = map[string]string{"app": "zk"}
		p.Status = cluster.PodStatus{Phase: cluster.PodRunning, Ready: true}
		pods = append(pods, p)
		refs = append(refs, p.Ref())
	}
	h.must(&PutNode{Node: testNode("a", 4000, 8<<30)})
	h.must(&PutPods{Pods: pods})
	h.must(&ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{{Pod: refs[0], Node: "a"}, {Pod: refs[1], Node: "a"}, {Pod: refs[2], Node: "a"}}}})
	for _, ref := range refs {
		h.must(&PodStatus{Node: "a", Updates: []cluster.PodStatusUpdate{{Ref: ref, Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true}}}})
	}
	h.must(&PutObjects{Objects: []*cluster.Object{{Kind: cluster.KindPodDisruptionBudget, Namespace: "default", Name: "zk-pdb", UID: "b1",
		Budget: &cluster.DisruptionBudget{MinAvailable: "2", Selector: map[string]string{"app": "zk"}}}}})

	r := h.apply(&EvictPods{Pods: refs})[0]
	if r.Changed != 1 || len(r.Blocked) != 2 {
		t.Fatalf("evicted %d, blocked %v; want 1 and 2", r.Changed, r.Blocked)
	}
	want := "pod default/zk-1: evicting it would violate PodDisruptionBudget zk-pdb (needs 2 healthy pods and has 2)"
	if r.Blocked[0] != want {
		t.Errorf("blocked[0] = %q\nwant %q", r.Blocked[0], want)
	}
	// A second budget over the same pods makes them unevictable.
	h.must(&PutObjects{Objects: []*cluster.Object{{Kind: cluster.KindPodDisruptionBudget, Namespace: "default", Name: "other", UID: "b2",
		Budget: &cluster.DisruptionBudget{MaxUnavailable: "100%", Selector: map[string]string{"app": "zk"}}}}})
	r = h.apply(&EvictPods{Pods: refs[1:]})[0]
	if r.Changed != 0 || len(r.Blocked) != 2 || !strings.Contains(r.Blocked[0], "selected by 2 PodDisruptionBudgets") {
		t.Errorf("two budgets: evicted %d, blocked %v", r.Changed, r.Blocked)
	}
}
