package scheduler

import (
	"slices"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"

	"shoal/cluster"
)

// slotWindows are how far back latestSlot looks, widening: a frequent
// schedule is found in the first, and a sparse one costs few steps in a
// wide one. Slots older than the last window are never run.
var slotWindows = []time.Duration{2 * time.Minute, 2 * time.Hour, 50 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour}

// latestSlot returns the latest time the schedule fires after since and
// no later than now, if any: of several missed slots only the latest runs,
// as in Kubernetes.
func latestSlot(s cron.Schedule, since, now time.Time) (time.Time, bool) {
	for _, w := range slotWindows {
		start := now.Add(-w)
		if start.Before(since) {
			start = since
		}
		var last time.Time
		for t := s.Next(start); !t.IsZero() && !t.After(now); t = s.Next(t) {
			last = t
		}
		if !last.IsZero() {
			return last, true
		}
		if start.Equal(since) {
			break
		}
	}
	return time.Time{}, false
}

// cronDecision is what one pass does for a CronJob: the Job to start (nil
// for none) and the Jobs to delete (history beyond the limits, or those a
// Replace policy ends).
type cronDecision struct {
	run    *cluster.CronRun
	delete []*cluster.Workload
}

// decideCron is the CronJob controller: pure, from the CronJob, its Jobs
// and the leader's wall clock.
func decideCron(cj *cluster.Workload, jobs []*cluster.Workload, now time.Time, uid func() string) cronDecision {
	var d cronDecision
	spec := cj.Cron
	var active, succeeded, failed []*cluster.Workload
	for _, j := range jobs {
		c, done := j.JobStatus.Finished()
		switch {
		case !done:
			active = append(active, j)
		case c.Type == cluster.JobComplete:
			succeeded = append(succeeded, j)
		default:
			failed = append(failed, j)
		}
	}
	d.delete = append(overLimit(succeeded, spec.SuccessfulJobsHistoryLimit), overLimit(failed, spec.FailedJobsHistoryLimit)...)
	if spec.Suspend {
		return d
	}
	sched, err := cron.ParseStandard(spec.Schedule)
	if err != nil {
		return d // refused at apply; an old entry must not stop the pass
	}
	loc := time.UTC
	if spec.TimeZone != "" {
		if loc, err = time.LoadLocation(spec.TimeZone); err != nil {
			return d
		}
	}
	since := cj.CreatedAt
	if st := cj.CronStatus; st != nil && st.LastScheduleTime != nil {
		since = *st.LastScheduleTime
	}
	if dl := spec.StartingDeadlineSeconds; dl != nil && since.Before(now.Add(-time.Duration(*dl)*time.Second)) {
		since = now.Add(-time.Duration(*dl) * time.Second) // older slots are missed for good
	}
	slot, ok := latestSlot(sched, since.In(loc), now.In(loc))
	if !ok {
		return d
	}
	slot = slot.UTC()
	switch {
	case len(active) > 0 && spec.ConcurrencyPolicy == cluster.ConcurrencyForbid:
		return d // the slot waits, within its starting deadline
	case spec.ConcurrencyPolicy == cluster.ConcurrencyReplace:
		d.delete = append(d.delete, active...)
	}
	d.run = &cluster.CronRun{
		CronJob: cluster.PodRef{Namespace: cj.Namespace, Name: cj.Name, UID: cj.UID},
		Slot:    slot,
		Job:     cronJobFor(cj, slot, now, uid()),
	}
	return d
}

// cronJobFor makes the Job of one slot, named "<cronjob>-<slot in Unix
// minutes>" as Kubernetes names it: a second attempt at the slot is a
// conflict, never a second Job.
func cronJobFor(cj *cluster.Workload, slot, now time.Time, uid string) *cluster.Workload {
	spec := cj.Cron
	name := cj.Name + "-" + strconv.FormatInt(slot.Unix()/60, 10)
	ann := map[string]string{}
	for k, v := range spec.JobAnnotations {
		ann[k] = v
	}
	ann[cluster.CronJobScheduledAnnotation] = slot.Format(time.RFC3339)
	j := &cluster.Workload{
		Kind: cluster.KindJob, Namespace: cj.Namespace, Name: name, UID: uid,
		Labels: cloneLabels(spec.JobLabels), Annotations: ann,
		Selector:       map[string]string{cluster.JobNameLabel: name},
		TemplateLabels: cloneLabels(cj.TemplateLabels), TemplateAnnotations: cloneLabels(cj.TemplateAnnotations),
		Template: cj.Template.Clone(), Job: spec.JobTemplate.Clone(), Generation: 1,
		Owner: &cluster.OwnerRef{Kind: cluster.KindCronJob, Name: cj.Name, UID: cj.UID}, CreatedAt: now,
	}
	j.TemplateHash = j.TemplateID()
	return j
}

func cloneLabels(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// overLimit returns the oldest finished Jobs beyond limit.
func overLimit(jobs []*cluster.Workload, limit int32) []*cluster.Workload {
	if len(jobs) <= int(limit) {
		return nil
	}
	jobs = slices.Clone(jobs)
	slices.SortFunc(jobs, func(a, b *cluster.Workload) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmpString(a.Name, b.Name)
	})
	return jobs[:len(jobs)-int(limit)]
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cronJob reconciles one CronJob: see decideCron.
func (p *pass) cronJob(w *cluster.Workload) {
	if w.Cron == nil {
		return
	}
	var jobs []*cluster.Workload
	for _, j := range p.st.WorkloadsOfKind(cluster.KindJob) {
		if j.IsOwnedBy(w.UID) {
			jobs = append(jobs, j)
		}
	}
	d := decideCron(w, jobs, p.now, p.ids.NewUID)
	for _, j := range d.delete {
		p.plan.DeleteJobs = append(p.plan.DeleteJobs, cluster.PodRef{Namespace: j.Namespace, Name: j.Name, UID: j.UID})
	}
	if d.run != nil {
		p.plan.CronRuns = append(p.plan.CronRuns, *d.run)
	}
	if next, ok := nextSlot(w.Cron, p.now); ok {
		p.wakeAt(w, next)
	}
}

// nextSlot is a CronJob's first slot after now, when it has one.
func nextSlot(spec *cluster.CronJobSpec, now time.Time) (time.Time, bool) {
	if spec.Suspend {
		return time.Time{}, false
	}
	sched, err := cron.ParseStandard(spec.Schedule)
	if err != nil {
		return time.Time{}, false
	}
	loc := time.UTC
	if spec.TimeZone != "" {
		if loc, err = time.LoadLocation(spec.TimeZone); err != nil {
			return time.Time{}, false
		}
	}
	next := sched.Next(now.In(loc))
	return next, !next.IsZero()
}
