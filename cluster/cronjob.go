package cluster

import (
	"time"
	_ "time/tzdata" // CronJob time zones must not depend on the node's zoneinfo
)

// KindCronJob is a batch/v1 CronJob: Jobs made on a schedule.
const KindCronJob WorkloadKind = "CronJob"

// CronJob concurrency policies.
const (
	ConcurrencyAllow   = "Allow"
	ConcurrencyForbid  = "Forbid"
	ConcurrencyReplace = "Replace"
)

// CronJobScheduledAnnotation is set on a CronJob's Jobs: the slot they run
// for (RFC 3339), as Kubernetes writes it.
const CronJobScheduledAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// CronJobSpec is what a CronJob asks for. Its Jobs are made from the
// workload's Template (the pod template) and JobTemplate.
type CronJobSpec struct {
	// Schedule is a standard 5-field cron line or a descriptor (@hourly).
	Schedule string `json:"schedule"`
	// TimeZone is an IANA name; "" is UTC (the leader's clock is read in
	// UTC, so the cluster never depends on a machine's local zone).
	TimeZone                   string `json:"timeZone,omitempty"`
	ConcurrencyPolicy          string `json:"concurrencyPolicy"`
	StartingDeadlineSeconds    *int64 `json:"startingDeadlineSeconds,omitempty"`
	SuccessfulJobsHistoryLimit int32  `json:"successfulJobsHistoryLimit"`
	FailedJobsHistoryLimit     int32  `json:"failedJobsHistoryLimit"`
	Suspend                    bool   `json:"suspend,omitempty"`
	// JobTemplate is the Jobs' spec; JobLabels and JobAnnotations their
	// metadata.
	JobTemplate    JobSpec           `json:"jobTemplate"`
	JobLabels      map[string]string `json:"jobLabels,omitempty"`
	JobAnnotations map[string]string `json:"jobAnnotations,omitempty"`
}

// CronJobStatus is what the leader recorded: the last slot it made a Job
// for, written in the same Raft entry as that Job, so that no slot runs
// twice across a leader change.
type CronJobStatus struct {
	LastScheduleTime *time.Time `json:"lastScheduleTime,omitempty"`
}

// Clone returns a deep copy of c (nil for nil).
func (c *CronJobSpec) Clone() *CronJobSpec {
	if c == nil {
		return nil
	}
	o := *c
	if c.StartingDeadlineSeconds != nil {
		v := *c.StartingDeadlineSeconds
		o.StartingDeadlineSeconds = &v
	}
	o.JobTemplate = *c.JobTemplate.Clone()
	o.JobLabels = cloneMap(c.JobLabels)
	o.JobAnnotations = cloneMap(c.JobAnnotations)
	return &o
}

// Clone returns a deep copy of s (nil for nil).
func (s *CronJobStatus) Clone() *CronJobStatus {
	if s == nil {
		return nil
	}
	return &CronJobStatus{LastScheduleTime: cloneTime(s.LastScheduleTime)}
}

// CronRun is one scheduled run decided by the leader: the Job for Slot.
// The FSM stores it only if Slot is after the CronJob's last scheduled
// slot and no Job has its name, and records Slot in the same entry.
type CronRun struct {
	CronJob PodRef    `json:"cronJob"`
	Slot    time.Time `json:"slot"`
	Job     *Workload `json:"job"`
}

// IsOwnedBy reports whether w was made by the workload with uid.
func (w *Workload) IsOwnedBy(uid string) bool { return w.Owner != nil && w.Owner.UID == uid }
