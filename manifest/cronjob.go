package manifest

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"shoal/cluster"
)

// KindCronJob is batch/v1 CronJob.
const KindCronJob = "CronJob"

// Kubernetes' limits and defaults for a CronJob: its Jobs are named
// "<cronjob>-<minutes>", which must stay a DNS label.
const (
	maxCronJobName         = 52
	defaultSuccessfulLimit = 3
	defaultFailedLimit     = 1
)

var cronJobShape = top(map[string]*shape{
	"schedule": leaf, "timeZone": leaf, "concurrencyPolicy": leaf, "startingDeadlineSeconds": leaf,
	"successfulJobsHistoryLimit": leaf, "failedJobsHistoryLimit": leaf, "suspend": leaf,
	"jobTemplate": obj(map[string]*shape{
		"metadata": obj(map[string]*shape{"labels": leaf, "annotations": leaf, "creationTimestamp": ignored}),
		"spec":     obj(jobSpecFields),
	}),
})

// ParseSchedule parses a CronJob's schedule: five fields or a descriptor
// such as @hourly, as Kubernetes accepts them.
func ParseSchedule(s string) (cron.Schedule, error) {
	return cron.ParseStandard(s)
}

func (c *conv) cronJob(j *batchv1.CronJob) *Object {
	ns, name := c.meta(&j.ObjectMeta, validation.IsDNS1123Label)
	if len(name) > maxCronJobName {
		c.errf("metadata.name", "%q is %d characters: at most %d (its Jobs add a suffix)", name, len(name), maxCronJobName)
	}
	s := j.Spec
	w := &cluster.Workload{
		Kind: cluster.KindCronJob, Namespace: ns, Name: name,
		Labels: mapOrNil(j.Labels), Annotations: mapOrNil(j.Annotations), Generation: 1,
	}
	cs := &cluster.CronJobSpec{
		Schedule: s.Schedule, ConcurrencyPolicy: cluster.ConcurrencyAllow, StartingDeadlineSeconds: s.StartingDeadlineSeconds,
		SuccessfulJobsHistoryLimit: defaultSuccessfulLimit, FailedJobsHistoryLimit: defaultFailedLimit,
		JobLabels: mapOrNil(s.JobTemplate.Labels), JobAnnotations: mapOrNil(s.JobTemplate.Annotations),
	}
	c.labels("spec.jobTemplate.metadata.labels", s.JobTemplate.Labels)
	c.annotations("spec.jobTemplate.metadata.annotations", s.JobTemplate.Annotations)
	c.schedule(s.Schedule)
	if tz := s.TimeZone; tz != nil {
		cs.TimeZone = *tz
		if _, err := time.LoadLocation(*tz); err != nil || *tz == "" || *tz == "Local" {
			c.errf("spec.timeZone", "%q is not a time zone name (an IANA name such as Europe/Paris)", *tz)
		}
	}
	switch p := s.ConcurrencyPolicy; p {
	case "":
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
		cs.ConcurrencyPolicy = string(p)
	default:
		c.errf("spec.concurrencyPolicy", "%q is not supported (Allow, Forbid or Replace)", p)
	}
	if d := s.StartingDeadlineSeconds; d != nil && *d < 0 {
		c.errf("spec.startingDeadlineSeconds", "%d must be 0 or more", *d)
	}
	if v := s.SuccessfulJobsHistoryLimit; v != nil {
		cs.SuccessfulJobsHistoryLimit = *v
		if *v < 0 {
			c.errf("spec.successfulJobsHistoryLimit", "%d must be 0 or more", *v)
		}
	}
	if v := s.FailedJobsHistoryLimit; v != nil {
		cs.FailedJobsHistoryLimit = *v
		if *v < 0 {
			c.errf("spec.failedJobsHistoryLimit", "%d must be 0 or more", *v)
		}
	}
	if s.Suspend != nil {
		cs.Suspend = *s.Suspend
	}
	cs.JobTemplate = *c.jobSpec("spec.jobTemplate.spec", s.JobTemplate.Spec, w)
	w.Cron = cs
	w.TemplateHash = w.TemplateID()
	return &Object{Namespace: ns, Name: name, Workload: w}
}

func (c *conv) schedule(s string) {
	switch {
	case s == "":
		c.errf("spec.schedule", "required (five cron fields or a descriptor such as @hourly)")
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		c.errf("spec.schedule", "%q: a time zone in the schedule is not allowed, use spec.timeZone", s)
	default:
		if _, err := ParseSchedule(s); err != nil {
			c.errf("spec.schedule", "%q is not a cron schedule (five fields or a descriptor such as @hourly): %v", s, err)
		}
	}
}

// cronJobToK8s writes a CronJob as batch/v1.
func cronJobToK8s(w *cluster.Workload, meta metav1.ObjectMeta, pod corev1.PodTemplateSpec) *batchv1.CronJob {
	cs := w.Cron
	if cs == nil {
		cs = &cluster.CronJobSpec{}
	}
	jt := &cluster.Workload{Job: &cs.JobTemplate}
	template := batchv1.JobTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: cs.JobLabels, Annotations: cs.JobAnnotations},
		Spec:       jobToK8s(jt, metav1.ObjectMeta{}, pod).Spec,
	}
	spec := batchv1.CronJobSpec{
		Schedule: cs.Schedule, ConcurrencyPolicy: batchv1.ConcurrencyPolicy(cs.ConcurrencyPolicy),
		StartingDeadlineSeconds: cs.StartingDeadlineSeconds, Suspend: ptr(cs.Suspend),
		SuccessfulJobsHistoryLimit: ptr(cs.SuccessfulJobsHistoryLimit), FailedJobsHistoryLimit: ptr(cs.FailedJobsHistoryLimit),
		JobTemplate: template,
	}
	if cs.TimeZone != "" {
		spec.TimeZone = ptr(cs.TimeZone)
	}
	out := &batchv1.CronJob{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: KindCronJob}, ObjectMeta: meta, Spec: spec}
	if st := w.CronStatus; st != nil && st.LastScheduleTime != nil {
		out.Status.LastScheduleTime = ptr(metav1.NewTime(*st.LastScheduleTime))
	}
	return out
}
