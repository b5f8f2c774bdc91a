package scheduler

import (
	"strconv"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"shoal/cluster"
)

func mustSchedule(t *testing.T, s string) cron.Schedule {
	t.Helper()
	sched, err := cron.ParseStandard(s)
	if err != nil {
		t.Fatal(err)
	}
	return sched
}

func TestLatestSlot(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, sched, since, now, want string
	}{
		{"every minute, one due", "* * * * *", "2026-01-02T03:04:00Z", "2026-01-02T03:05:30Z", "2026-01-02T03:05:00Z"},
		{"nothing due yet", "* * * * *", "2026-01-02T03:05:00Z", "2026-01-02T03:05:59Z", ""},
		{"the slot at now is due", "* * * * *", "2026-01-02T03:04:00Z", "2026-01-02T03:05:00Z", "2026-01-02T03:05:00Z"},
		{"missed slots: only the latest", "*/10 * * * *", "2026-01-02T00:00:00Z", "2026-01-02T05:37:00Z", "2026-01-02T05:30:00Z"},
		{"hourly descriptor", "@hourly", "2026-01-02T03:00:00Z", "2026-01-02T04:59:00Z", "2026-01-02T04:00:00Z"},
		{"daily, days missed", "30 2 * * *", "2026-01-01T02:30:00Z", "2026-01-09T01:00:00Z", "2026-01-08T02:30:00Z"},
		{"yearly", "@yearly", "2025-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"since after every slot", "0 0 1 1 *", "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := latestSlot(mustSchedule(t, tt.sched), at(tt.since), at(tt.now))
			if tt.want == "" {
				if ok {
					t.Errorf("slot %v, want none", got)
				}
				return
			}
			if !ok || !got.Equal(at(tt.want)) {
				t.Errorf("slot %v (%v), want %s", got, ok, tt.want)
			}
		})
	}
}

func mkCron(edit func(*cluster.CronJobSpec)) *cluster.Workload {
	w := mkWorkload(cluster.KindCronJob, "tick", 0, cluster.Resources{})
	w.Template.RestartPolicy = cluster.RestartNever
	w.Cron = &cluster.CronJobSpec{Schedule: "* * * * *", ConcurrencyPolicy: cluster.ConcurrencyAllow,
		SuccessfulJobsHistoryLimit: 3, FailedJobsHistoryLimit: 1,
		JobTemplate: cluster.JobSpec{Parallelism: 1, BackoffLimit: 6, CompletionMode: cluster.CompletionNonIndexed}}
	w.CreatedAt = t0.Truncate(time.Minute)
	if edit != nil {
		edit(w.Cron)
	}
	rehash(w)
	return w
}

func cronJobAt(cj *cluster.Workload, minute int, finished string) *cluster.Workload {
	slot := cj.CreatedAt.Add(time.Duration(minute) * time.Minute)
	j := cronJobFor(cj, slot, slot, "uid-j"+slot.Format("1504"))
	if finished != "" {
		j.JobStatus = &cluster.JobStatus{Conditions: []cluster.JobCondition{{Type: finished}}}
	}
	return j
}

func TestDecideCron(t *testing.T) {
	base := t0.Truncate(time.Minute) // 03:04
	tests := []struct {
		name     string
		spec     func(*cluster.CronJobSpec)
		last     int // minutes after creation of the last recorded slot; -1 none
		jobs     func(cj *cluster.Workload) []*cluster.Workload
		now      time.Time
		wantSlot int // minutes after creation; -1 none
		wantDel  int
	}{
		{name: "first slot", last: -1, now: base.Add(90 * time.Second), wantSlot: 1},
		{name: "slot already recorded", last: 1, now: base.Add(90 * time.Second), wantSlot: -1},
		{name: "missed slots run the latest", last: 1, now: base.Add(10*time.Minute + 5*time.Second), wantSlot: 10},
		{name: "starting deadline passed", spec: func(s *cluster.CronJobSpec) { s.StartingDeadlineSeconds = ptrTo(int64(3)) },
			last: -1, now: base.Add(65 * time.Second), wantSlot: -1},
		{name: "within the starting deadline", spec: func(s *cluster.CronJobSpec) { s.StartingDeadlineSeconds = ptrTo(int64(10)) },
			last: -1, now: base.Add(65 * time.Second), wantSlot: 1},
		{name: "suspended", spec: func(s *cluster.CronJobSpec) { s.Suspend = true }, last: -1, now: base.Add(2 * time.Minute), wantSlot: -1},
		{name: "forbid waits for the running job", spec: func(s *cluster.CronJobSpec) { s.ConcurrencyPolicy = cluster.ConcurrencyForbid },
			last: 1, jobs: func(cj *cluster.Workload) []*cluster.Workload { return []*cluster.Workload{cronJobAt(cj, 1, "")} },
			now: base.Add(2*time.Minute + time.Second), wantSlot: -1},
		{name: "allow runs beside it", last: 1,
			jobs: func(cj *cluster.Workload) []*cluster.Workload { return []*cluster.Workload{cronJobAt(cj, 1, "")} },
			now:  base.Add(2*time.Minute + time.Second), wantSlot: 2},
		{name: "replace deletes the running job", spec: func(s *cluster.CronJobSpec) { s.ConcurrencyPolicy = cluster.ConcurrencyReplace },
			last: 1, jobs: func(cj *cluster.Workload) []*cluster.Workload { return []*cluster.Workload{cronJobAt(cj, 1, "")} },
			now: base.Add(2*time.Minute + time.Second), wantSlot: 2, wantDel: 1},
		{name: "history limits", spec: func(s *cluster.CronJobSpec) { s.SuccessfulJobsHistoryLimit, s.FailedJobsHistoryLimit = 1, 0 },
			last: 4, jobs: func(cj *cluster.Workload) []*cluster.Workload {
				return []*cluster.Workload{cronJobAt(cj, 1, cluster.JobComplete), cronJobAt(cj, 2, cluster.JobComplete),
					cronJobAt(cj, 3, cluster.JobFailed), cronJobAt(cj, 4, cluster.JobComplete)}
			},
			now: base.Add(4*time.Minute + time.Second), wantSlot: -1, wantDel: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := mkCron(tt.spec)
			if tt.last >= 0 {
				l := base.Add(time.Duration(tt.last) * time.Minute)
				cj.CronStatus = &cluster.CronJobStatus{LastScheduleTime: &l}
			}
			var jobs []*cluster.Workload
			if tt.jobs != nil {
				jobs = tt.jobs(cj)
			}
			d := decideCron(cj, jobs, tt.now, func() string { return "uid-new" })
			if len(d.delete) != tt.wantDel {
				t.Errorf("deletes %d jobs, want %d", len(d.delete), tt.wantDel)
			}
			if tt.wantSlot < 0 {
				if d.run != nil {
					t.Errorf("runs slot %v, want none", d.run.Slot)
				}
				return
			}
			want := base.Add(time.Duration(tt.wantSlot) * time.Minute)
			if d.run == nil || !d.run.Slot.Equal(want) {
				t.Fatalf("run %+v, want slot %v", d.run, want)
			}
			j := d.run.Job
			if wantName := "tick-" + strconv.FormatInt(want.Unix()/60, 10); j.Name != wantName || j.Owner == nil || j.Owner.UID != cj.UID ||
				j.Annotations[cluster.CronJobScheduledAnnotation] != want.Format(time.RFC3339) || j.Job == nil {
				t.Errorf("job %s owner %+v annotations %v, want %s owned by the CronJob", j.Name, j.Owner, j.Annotations, wantName)
			}
		})
	}
}

func TestDecideCronTimeZone(t *testing.T) {
	// 02:30 every day in Paris is 01:30 UTC in winter.
	cj := mkCron(func(s *cluster.CronJobSpec) { s.Schedule, s.TimeZone = "30 2 * * *", "Europe/Paris" })
	cj.CreatedAt = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	d := decideCron(cj, nil, time.Date(2026, 1, 10, 1, 31, 0, 0, time.UTC), func() string { return "u" })
	if d.run == nil || !d.run.Slot.Equal(time.Date(2026, 1, 10, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("run %+v, want the 01:30 UTC slot", d.run)
	}
}
