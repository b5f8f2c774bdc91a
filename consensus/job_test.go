package consensus

import (
	"errors"
	"testing"
	"time"

	"shoal/cluster"
)

func testJob(name, image string) *cluster.Workload {
	w := testWorkload(name, 0, image)
	w.Kind = cluster.KindJob
	w.Template.RestartPolicy = cluster.RestartNever
	w.Job = &cluster.JobSpec{Parallelism: 1, BackoffLimit: 6, CompletionMode: cluster.CompletionNonIndexed}
	return w
}

// TestJobCommands: a Job's status is the leader's (a client's is dropped,
// the stored one kept across a re-apply), its template is immutable, and a
// plan sets its status and deletes it when its time to live is over.
func TestJobCommands(t *testing.T) {
	h := newHarness(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	j := testJob("pi", "perl")
	j.JobStatus = &cluster.JobStatus{Succeeded: 99}
	h.must(&PutWorkload{Workload: j})
	stored := func() *cluster.Workload {
		w, ok := h.state().Workload(cluster.KindJob, "default", "pi")
		if !ok {
			t.Fatal("job missing")
		}
		return w
	}
	if stored().JobStatus != nil {
		t.Errorf("a client's status was stored: %+v", stored().JobStatus)
	}

	st := &cluster.JobStatus{StartTime: &now, Active: 1}
	r := h.must(&ApplyPlan{Plan: &cluster.Plan{Jobs: []cluster.JobStatusUpdate{
		{Namespace: "default", Name: "pi", UID: "wl-pi", Status: st},
		{Namespace: "default", Name: "pi", UID: "other", Status: &cluster.JobStatus{Active: 5}},
	}}})
	if got := stored().JobStatus; got == nil || got.Active != 1 || !got.StartTime.Equal(now) || r.Skipped != 1 {
		t.Errorf("status %+v (skipped %d), want active 1 and the update for another UID skipped", got, r.Skipped)
	}

	// Re-applying the same Job keeps its status; a new template is refused.
	h.must(&PutWorkload{Workload: testJob("pi", "perl")})
	if got := stored().JobStatus; got == nil || got.Active != 1 {
		t.Errorf("re-apply lost the status: %+v", got)
	}
	if r := h.apply(&PutWorkload{Workload: testJob("pi", "perl:2")})[0]; !errors.Is(r.Err, ErrInvalid) {
		t.Errorf("template change: %v, want ErrInvalid", r.Err)
	}
	// A Job without a job spec (or a Deployment with one) is refused.
	bad := testJob("x", "perl")
	bad.Job = nil
	if r := h.apply(&PutWorkload{Workload: bad})[0]; !errors.Is(r.Err, ErrInvalid) {
		t.Errorf("job without spec: %v, want ErrInvalid", r.Err)
	}

	h.must(&ApplyPlan{Plan: &cluster.Plan{DeleteJobs: []cluster.PodRef{{Namespace: "default", Name: "pi", UID: "wl-pi"}}}})
	if _, ok := h.state().Workload(cluster.KindJob, "default", "pi"); ok {
		t.Error("expired job not deleted")
	}
}
