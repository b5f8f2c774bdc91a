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

// TestCronRunsOncePerSlot: a CronJob's run stores its Job and the slot in
// one entry; the same slot again (a new leader that decided on an older
// state) or an older one changes nothing.
func TestCronRunsOncePerSlot(t *testing.T) {
	h := newHarness(t)
	cj := testWorkload("tick", 0, "busybox")
	cj.Kind = cluster.KindCronJob
	cj.Cron = &cluster.CronJobSpec{Schedule: "* * * * *", ConcurrencyPolicy: cluster.ConcurrencyAllow}
	h.must(&PutWorkload{Workload: cj})
	slot := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	run := func(s time.Time, name, uid string) cluster.CronRun {
		j := testJob(name, "busybox")
		j.UID = uid
		return cluster.CronRun{CronJob: cluster.PodRef{Namespace: "default", Name: "tick", UID: "wl-tick"}, Slot: s, Job: j}
	}
	h.must(&ApplyPlan{Plan: &cluster.Plan{CronRuns: []cluster.CronRun{run(slot, "tick-1", "j1")}}})
	r := h.must(&ApplyPlan{Plan: &cluster.Plan{CronRuns: []cluster.CronRun{
		run(slot, "tick-1b", "j2"), run(slot.Add(-time.Minute), "tick-0", "j3"),
	}}})
	if r.Skipped != 2 {
		t.Errorf("skipped %d runs, want the repeated and the older slot", r.Skipped)
	}
	jobs := h.state().WorkloadsOfKind(cluster.KindJob)
	if len(jobs) != 1 || jobs[0].Name != "tick-1" || !jobs[0].IsOwnedBy("wl-tick") {
		t.Fatalf("jobs %v, want only tick-1 owned by the CronJob", jobs)
	}
	w, _ := h.state().Workload(cluster.KindCronJob, "default", "tick")
	if w.CronStatus == nil || !w.CronStatus.LastScheduleTime.Equal(slot) {
		t.Errorf("cron status %+v, want last schedule %v", w.CronStatus, slot)
	}
	// A client's apply keeps the record.
	h.must(&PutWorkload{Workload: cj.Clone()})
	if w, _ := h.state().Workload(cluster.KindCronJob, "default", "tick"); w.CronStatus == nil {
		t.Error("re-apply dropped the last schedule time")
	}
}
