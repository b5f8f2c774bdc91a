package manifest

import (
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"shoal/cluster"
)

// KindJob is batch/v1 Job.
const KindJob = "Job"

// Kubernetes' defaults for a Job.
const (
	defaultBackoffLimit = 6
	maxPolicyRules      = 20
	maxExitCodes        = 255
)

var jobSpecFields = map[string]*shape{
	"template": templateShape, "completions": leaf, "parallelism": leaf, "backoffLimit": leaf,
	"activeDeadlineSeconds": leaf, "ttlSecondsAfterFinished": leaf, "completionMode": leaf,
	"podFailurePolicy": obj(map[string]*shape{
		"rules": obj(map[string]*shape{
			"action":          leaf,
			"onExitCodes":     obj(map[string]*shape{"containerName": leaf, "operator": leaf, "values": leaf}),
			"onPodConditions": leaf,
		}),
	}),
}

var jobShape = top(jobSpecFields)

func (c *conv) job(j *batchv1.Job) *Object {
	// Indexed pods' hostnames are "<job>-<index>": a DNS label.
	ns, name := c.meta(&j.ObjectMeta, validation.IsDNS1123Label)
	w := &cluster.Workload{
		Kind: cluster.KindJob, Namespace: ns, Name: name,
		Labels: mapOrNil(j.Labels), Annotations: mapOrNil(j.Annotations), Generation: 1,
		Selector: map[string]string{cluster.JobNameLabel: name},
	}
	w.Job = c.jobSpec("spec", j.Spec, w)
	w.TemplateHash = w.TemplateID()
	return &Object{Namespace: ns, Name: name, Workload: w}
}

// jobSpec converts a Job's spec at p (a Job's or a CronJob's job template),
// setting w's pod template.
func (c *conv) jobSpec(p string, s batchv1.JobSpec, w *cluster.Workload) *cluster.JobSpec {
	w.TemplateLabels, w.TemplateAnnotations = mapOrNil(s.Template.Labels), mapOrNil(s.Template.Annotations)
	c.labels(p+".template.metadata.labels", s.Template.Labels)
	c.annotations(p+".template.metadata.annotations", s.Template.Annotations)
	w.Template = c.podSpec(&s.Template.Spec, p+".template.spec", nil, false)
	if rp := s.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		c.errf(p+".template.spec.restartPolicy", "%q is not allowed in a Job: OnFailure or Never (required)", rp)
	}
	js := &cluster.JobSpec{Completions: s.Completions, Parallelism: 1, BackoffLimit: defaultBackoffLimit,
		ActiveDeadlineSeconds: s.ActiveDeadlineSeconds, TTLSecondsAfterFinished: s.TTLSecondsAfterFinished,
		CompletionMode: cluster.CompletionNonIndexed}
	c.jobCounts(p, js, s)
	if m := s.CompletionMode; m != nil {
		switch *m {
		case batchv1.NonIndexedCompletion, batchv1.IndexedCompletion:
			js.CompletionMode = string(*m)
		default:
			c.errf(p+".completionMode", "%q is not supported (NonIndexed or Indexed)", *m)
		}
	}
	if js.CompletionMode == cluster.CompletionIndexed && js.Completions == nil {
		c.errf(p+".completions", "required when %s.completionMode is Indexed", p)
	}
	if pfp := s.PodFailurePolicy; pfp != nil {
		if s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			c.errf(p+".podFailurePolicy", "requires %s.template.spec.restartPolicy Never (a restarted container never fails its pod)", p)
		}
		js.PodFailurePolicy = c.failureRules(p+".podFailurePolicy.rules", pfp.Rules)
	}
	return js
}

// jobCounts checks and copies the Job's numbers, defaulted as Kubernetes
// does.
func (c *conv) jobCounts(p string, js *cluster.JobSpec, s batchv1.JobSpec) {
	if v := s.Completions; v != nil && *v < 0 {
		c.errf(p+".completions", "%d must be 0 or more", *v)
	}
	if v := s.Parallelism; v != nil {
		js.Parallelism = *v
		if *v < 0 {
			c.errf(p+".parallelism", "%d must be 0 or more", *v)
		}
	}
	if v := s.BackoffLimit; v != nil {
		js.BackoffLimit = *v
		if *v < 0 {
			c.errf(p+".backoffLimit", "%d must be 0 or more", *v)
		}
	}
	if v := s.ActiveDeadlineSeconds; v != nil && *v <= 0 {
		c.errf(p+".activeDeadlineSeconds", "%d must be more than 0", *v)
	}
	if v := s.TTLSecondsAfterFinished; v != nil && *v < 0 {
		c.errf(p+".ttlSecondsAfterFinished", "%d must be 0 or more", *v)
	}
}

// failureRules converts podFailurePolicy rules; only onExitCodes is
// supported: Shoal's nodes report no pod conditions such as DisruptionTarget
// that onPodConditions could match truthfully.
func (c *conv) failureRules(at string, rules []batchv1.PodFailurePolicyRule) []cluster.PodFailureRule {
	if len(rules) > maxPolicyRules {
		c.errf(at, "%d rules: at most %d", len(rules), maxPolicyRules)
	}
	var out []cluster.PodFailureRule
	for i, r := range rules {
		p := index(at, i)
		switch r.Action {
		case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount:
		default:
			c.errf(p+".action", "%q is not supported (FailJob, Ignore or Count)", r.Action)
		}
		if len(r.OnPodConditions) > 0 {
			c.errf(p+".onPodConditions", "not supported by Shoal: its nodes report no pod conditions to match (use onExitCodes)")
		}
		e := r.OnExitCodes
		if e == nil {
			c.errf(p+".onExitCodes", "required")
			continue
		}
		rule := cluster.PodFailureRule{Action: string(r.Action), Operator: string(e.Operator), Values: slices.Clone(e.Values)}
		if e.ContainerName != nil {
			rule.ContainerName = *e.ContainerName
		}
		c.exitCodes(p+".onExitCodes", e)
		out = append(out, rule)
	}
	return out
}

func (c *conv) exitCodes(p string, e *batchv1.PodFailurePolicyOnExitCodesRequirement) {
	switch e.Operator {
	case batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn:
	default:
		c.errf(p+".operator", "%q is not supported (In or NotIn)", e.Operator)
	}
	if len(e.Values) == 0 || len(e.Values) > maxExitCodes {
		c.errf(p+".values", "%d exit codes: 1 to %d", len(e.Values), maxExitCodes)
	}
	for i, v := range e.Values {
		if i > 0 && v <= e.Values[i-1] {
			c.errf(index(p+".values", i), "%d: the values must be ordered and distinct", v)
		}
		if v == 0 && e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
			c.errf(index(p+".values", i), "0 may not be used with operator In (a container exiting 0 did not fail)")
		}
	}
}

// jobToK8s writes a Job as batch/v1 with the status the leader keeps.
func jobToK8s(w *cluster.Workload, meta metav1.ObjectMeta, template corev1.PodTemplateSpec) *batchv1.Job {
	js := w.Job
	if js == nil {
		js = &cluster.JobSpec{}
	}
	mode := batchv1.CompletionMode(js.CompletionMode)
	spec := batchv1.JobSpec{
		Completions: js.Completions, Parallelism: ptr(js.Parallelism), BackoffLimit: ptr(js.BackoffLimit),
		ActiveDeadlineSeconds: js.ActiveDeadlineSeconds, TTLSecondsAfterFinished: js.TTLSecondsAfterFinished,
		CompletionMode: &mode, Template: template,
	}
	if len(js.PodFailurePolicy) > 0 {
		spec.PodFailurePolicy = &batchv1.PodFailurePolicy{}
		for _, r := range js.PodFailurePolicy {
			e := &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOperator(r.Operator), Values: r.Values}
			if r.ContainerName != "" {
				e.ContainerName = ptr(r.ContainerName)
			}
			spec.PodFailurePolicy.Rules = append(spec.PodFailurePolicy.Rules, batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyAction(r.Action), OnExitCodes: e})
		}
	}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: KindJob},
		ObjectMeta: meta, Spec: spec, Status: jobStatusToK8s(w.JobStatus),
	}
}

func jobStatusToK8s(s *cluster.JobStatus) batchv1.JobStatus {
	if s == nil {
		return batchv1.JobStatus{}
	}
	out := batchv1.JobStatus{Active: s.Active, Succeeded: s.Succeeded, Failed: s.Failed}
	if s.StartTime != nil {
		out.StartTime = ptr(metav1.NewTime(*s.StartTime))
	}
	if s.CompletionTime != nil {
		out.CompletionTime = ptr(metav1.NewTime(*s.CompletionTime))
	}
	if s.CompletedIndexes != "" {
		out.CompletedIndexes = s.CompletedIndexes
	}
	for _, c := range s.Conditions {
		out.Conditions = append(out.Conditions, batchv1.JobCondition{
			Type: batchv1.JobConditionType(c.Type), Status: corev1.ConditionTrue, Reason: c.Reason, Message: c.Message,
			LastProbeTime: metav1.NewTime(c.LastTransitionTime), LastTransitionTime: metav1.NewTime(c.LastTransitionTime),
		})
	}
	return out
}
