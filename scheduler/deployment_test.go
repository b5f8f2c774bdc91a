package scheduler

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"shoal/cluster"
)

var small = cluster.Resources{MilliCPU: 100, Memory: 128 * mi}

func threeNodes() []*cluster.Node {
	return []*cluster.Node{mkNode("a", 4000, 8*gi), mkNode("b", 4000, 8*gi), mkNode("c", 4000, 8*gi)}
}

func TestDeploymentCreatesReplicas(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 5, small)
	st := mkState(threeNodes(), []*cluster.Workload{w})
	plan := Compute(st, t0, NewRandIDs(1, 1))
	if len(plan.Create) != 5 || len(plan.Place)+len(plan.Pending)+len(plan.Terminate)+len(plan.Delete) != 0 {
		t.Fatalf("plan: %+v", plan)
	}
	name := regexp.MustCompile(`^web-` + w.TemplateHash[:10] + `-[bcdfghjklmnpqrstvwxz2456789]{5}$`)
	uids := map[string]bool{}
	for _, p := range plan.Create {
		switch {
		case !name.MatchString(p.Name):
			t.Errorf("name %q", p.Name)
		case p.Owner == nil || p.Owner.UID != w.UID || p.Owner.Kind != cluster.KindDeployment:
			t.Errorf("%s owner %+v", p.Name, p.Owner)
		case p.Ordinal != -1 || p.Spec.Hostname != p.Name || !p.CreatedAt.Equal(t0):
			t.Errorf("%s: ordinal %d hostname %q created %v", p.Name, p.Ordinal, p.Spec.Hostname, p.CreatedAt)
		case p.Labels["app"] != "web" || p.TemplateHash != w.TemplateHash:
			t.Errorf("%s: labels %v hash %q", p.Name, p.Labels, p.TemplateHash)
		case p.NodeName == "" || p.SchedulingMessage != "":
			t.Errorf("%s not placed: %q", p.Name, p.SchedulingMessage)
		case p.UID == "" || uids[p.UID]:
			t.Errorf("%s: uid %q", p.Name, p.UID)
		}
		uids[p.UID] = true
	}
	// The template is cloned, not shared.
	plan.Create[0].Spec.Containers[0].Image = "changed"
	if w.Template.Containers[0].Image != "img:1" {
		t.Fatal("created pod shares the workload's template")
	}
}

func TestDeploymentScaleDownOrder(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 1, small)
	pods := []*cluster.Pod{
		mkPod(w, "web-old-ready", "a", true, t0),
		mkPod(w, "web-new-ready", "b", true, t0.Add(time.Hour)),
		mkPod(w, "web-notready", "c", false, t0.Add(-time.Hour)),
		mkPod(w, "web-pending", "", false, t0.Add(-2*time.Hour)),
	}
	st := mkState(threeNodes(), []*cluster.Workload{w}, pods...)
	plan := Compute(st, t0, NewRandIDs(1, 1))
	// The unplaced pod simply leaves the state; the others stop on their
	// nodes, the oldest ready one stays.
	if got := refNames(plan.Delete); !slices.Equal(got, []string{"web-pending"}) {
		t.Errorf("delete %v", got)
	}
	if got := refNames(plan.Terminate); !slices.Equal(got, []string{"web-notready", "web-new-ready"}) {
		t.Errorf("terminate %v", got)
	}
	if len(plan.Create)+len(plan.Place) != 0 {
		t.Errorf("unexpected %+v", plan)
	}
	// Scaling to 2 instead keeps the two ready ones.
	w2 := w.Clone()
	w2.Replicas = 2
	st = mkState(threeNodes(), []*cluster.Workload{w2}, pods...)
	plan = Compute(st, t0, NewRandIDs(1, 1))
	if got := append(refNames(plan.Delete), refNames(plan.Terminate)...); !slices.Equal(got, []string{"web-pending", "web-notready"}) {
		t.Errorf("scale to 2 stopped %v", got)
	}
}

// TestRollingUpdate drives a rollout pass by pass, pods becoming ready
// between passes, and checks Kubernetes' bounds after every pass.
func TestRollingUpdate(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		replicas             int32
		surge, unavail       string
		maxTotal, minAvail   int
		wantFirstCreate      int
		wantFirstStopOldOnes int
	}{
		{"surge1 unavail0", 4, "1", "0", 5, 4, 1, 0},
		{"default 25%", 4, "", "", 5, 3, 1, 1},
		{"both zero", 4, "0", "0", 4, 3, 0, 1},
		{"percent rounding", 10, "30%", "25%", 13, 8, 3, 2},
		{"unavail all", 3, "0", "100%", 3, 0, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mkWorkload(cluster.KindDeployment, "web", tc.replicas, small, func(w *cluster.Workload) {
				w.MaxSurge, w.MaxUnavailable = tc.surge, tc.unavail
			})
			nodes := []*cluster.Node{mkNode("a", 64000, 64*gi), mkNode("b", 64000, 64*gi)}
			st := converge(t, mkState(nodes, []*cluster.Workload{w}))
			w2 := newImage(w, "img:2")
			tx := st.Txn(st.Index() + 1)
			tx.PutWorkload(w2)
			st = tx.Commit()

			ids := NewRandIDs(3, 4)
			for pass := 0; ; pass++ {
				if pass > 40 {
					t.Fatal("rollout did not finish")
				}
				plan := Compute(st, t0, ids)
				if pass == 0 && (len(plan.Create) != tc.wantFirstCreate || len(plan.Terminate) != tc.wantFirstStopOldOnes) {
					t.Errorf("first pass: %d created, %d terminated", len(plan.Create), len(plan.Terminate))
				}
				if plan.Empty() {
					break
				}
				st = apply(t, st, plan)
				pods := live(st, w.UID)
				ready := 0
				for _, p := range pods {
					if p.Ready() {
						ready++
					}
				}
				if len(pods) > tc.maxTotal || ready < tc.minAvail {
					t.Fatalf("pass %d: %d pods (max %d), %d ready (min %d)", pass, len(pods), tc.maxTotal, ready, tc.minAvail)
				}
				// New pods become ready in the next round; old ones stop.
				st = kubelet(st, allReady)
			}
			pods := live(st, w.UID)
			if len(pods) != int(tc.replicas) {
				t.Fatalf("%d pods after rollout", len(pods))
			}
			for _, p := range pods {
				if p.TemplateHash != w2.TemplateHash {
					t.Fatalf("%s still on the old template", p.Name)
				}
			}
		})
	}
}

func TestRecreate(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 3, small, func(w *cluster.Workload) { w.Strategy = "Recreate" })
	st := converge(t, mkState(threeNodes(), []*cluster.Workload{w}))
	w2 := newImage(w, "img:2")
	tx := st.Txn(st.Index() + 1)
	tx.PutWorkload(w2)
	st = tx.Commit()
	ids := NewRandIDs(5, 6)
	plan := Compute(st, t0, ids)
	if len(plan.Terminate) != 3 || len(plan.Create) != 0 {
		t.Fatalf("first pass: %+v", plan)
	}
	st = apply(t, st, plan)
	// Old pods still terminating on their nodes: nothing new yet.
	if plan := Compute(st, t0, ids); !plan.Empty() {
		t.Fatalf("while old pods stop: %+v", plan)
	}
	st = kubelet(st, allReady)
	// Stopped: they are deleted and the new ones created in one plan.
	plan = Compute(st, t0, ids)
	if len(plan.Delete) != 3 || len(plan.Create) != 3 {
		t.Fatalf("after stop: %d deleted, %d created", len(plan.Delete), len(plan.Create))
	}
	for _, p := range plan.Create {
		if p.TemplateHash != w2.TemplateHash {
			t.Fatal("created an old pod")
		}
	}
}

func TestDeploymentReplacesLostAndFinished(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 4, small)
	nodes := threeNodes()
	nodes[2].Status = cluster.NodeDown
	failed := mkPod(w, "web-failed", "a", false, t0)
	failed.Status.Phase = cluster.PodFailed
	pods := []*cluster.Pod{
		mkPod(w, "web-ok", "a", true, t0),
		failed,
		mkPod(w, "web-down", "c", true, t0),
		mkPod(w, "web-gone", "zz", true, t0),
	}
	plan := Compute(mkState(nodes, []*cluster.Workload{w}, pods...), t0, NewRandIDs(1, 1))
	if got := refNames(plan.Terminate); !slices.Equal(got, []string{"web-down", "web-failed"}) {
		t.Errorf("terminate %v", got)
	}
	if got := refNames(plan.Delete); !slices.Equal(got, []string{"web-gone"}) {
		t.Errorf("delete %v", got)
	}
	if len(plan.Create) != 3 {
		t.Fatalf("created %d", len(plan.Create))
	}
	for _, p := range plan.Create {
		if p.NodeName != "a" && p.NodeName != "b" {
			t.Errorf("replacement on %q", p.NodeName)
		}
	}
}

func TestIntOrPercent(t *testing.T) {
	for _, tc := range []struct {
		s     string
		total int
		up    bool
		want  int
	}{
		{"25%", 10, true, 3}, {"25%", 10, false, 2}, {"", 4, true, 1}, {"3", 10, false, 3},
		{"0%", 10, true, 0}, {"bad", 8, false, 2}, {"100%", 3, false, 3},
	} {
		if got := intOrPercent(tc.s, tc.total, tc.up); got != tc.want {
			t.Errorf("intOrPercent(%q, %d, %v) = %d, want %d", tc.s, tc.total, tc.up, got, tc.want)
		}
	}
}

// TestSpreadCountsExistingPods: pods already running count towards spread,
// so a replacement goes where the workload has the fewest pods.
func TestSpreadCountsExistingPods(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 3, small)
	pods := []*cluster.Pod{mkPod(w, "web-1", "a", true, t0), mkPod(w, "web-2", "b", true, t0), mkPod(w, "web-3", "", false, t0)}
	plan := Compute(mkState(threeNodes(), []*cluster.Workload{w}, pods...), t0, NewRandIDs(1, 1))
	if len(plan.Place) != 1 || plan.Place[0].Node != "c" || len(plan.Create) != 0 {
		t.Fatalf("plan %+v", plan)
	}
}

// TestPodsTakeTemplateMetadata: pods carry the template's annotations and
// hostname (every replica the same, as in Kubernetes); without a
// hostname each is called by its name.
func TestPodsTakeTemplateMetadata(t *testing.T) {
	w := mkWorkload(cluster.KindDeployment, "web", 2, small, func(w *cluster.Workload) {
		w.TemplateAnnotations = map[string]string{"checksum/config": "abc"}
		w.Template.Hostname, w.Template.Subdomain = "web", "shared"
	})
	plan := Compute(mkState(threeNodes(), []*cluster.Workload{w}), t0, NewRandIDs(1, 1))
	for _, p := range plan.Create {
		if p.Annotations["checksum/config"] != "abc" || p.Spec.Hostname != "web" || p.Spec.Subdomain != "shared" {
			t.Errorf("%s: annotations %v hostname %q subdomain %q", p.Name, p.Annotations, p.Spec.Hostname, p.Spec.Subdomain)
		}
	}
	sts := mkWorkload(cluster.KindStatefulSet, "db", 1, small, func(w *cluster.Workload) {
		w.ServiceName = "db"
		w.Template.Hostname, w.Template.Subdomain = "ignored", "ignored"
	})
	plan = Compute(mkState(threeNodes(), []*cluster.Workload{sts}), t0, NewRandIDs(1, 1))
	if len(plan.Create) != 1 || plan.Create[0].Spec.Hostname != "db-0" || plan.Create[0].Spec.Subdomain != "db" {
		t.Errorf("statefulset pod %+v", plan.Create)
	}
}
