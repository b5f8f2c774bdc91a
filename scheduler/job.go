package scheduler

import (
	"reflect"
	"strconv"
	"time"

	"shoal/cluster"
)

// job reconciles one Job: see decideJob.
func (p *pass) job(w *cluster.Workload) {
	if w.Job == nil {
		return // not a Job the manifest made; nothing to run
	}
	backoff := p.opts.JobBackoff
	if backoff <= 0 {
		backoff = DefaultJobBackoff
	}
	d := decideJob(w, p.ownedBy(w.UID), p.lost, p.now, backoff)
	for _, pod := range d.stop {
		p.stop(pod)
	}
	for _, i := range d.create {
		p.create(p.newJobPod(w, i))
	}
	if !reflect.DeepEqual(d.status, w.JobStatus) {
		p.plan.Jobs = append(p.plan.Jobs, cluster.JobStatusUpdate{Namespace: w.Namespace, Name: w.Name, UID: w.UID, Status: d.status})
	}
	if d.expire {
		p.plan.DeleteJobs = append(p.plan.DeleteJobs, cluster.PodRef{Namespace: w.Namespace, Name: w.Name, UID: w.UID})
	}
	p.jobWake(w, d.status, backoff)
}

// jobWake asks for the next pass the Job's clock needs: its TTL once
// finished, else its active deadline and the end of its back-off.
func (p *pass) jobWake(w *cluster.Workload, st *cluster.JobStatus, backoff time.Duration) {
	spec := w.Job
	if c, finished := st.Finished(); finished {
		if ttl := spec.TTLSecondsAfterFinished; ttl != nil {
			p.wakeAt(w, c.LastTransitionTime.Add(time.Duration(*ttl)*time.Second))
		}
		return
	}
	if ads := spec.ActiveDeadlineSeconds; ads != nil && st.StartTime != nil {
		p.wakeAt(w, st.StartTime.Add(time.Duration(*ads)*time.Second))
	}
	if st.Failed > 0 && st.LastFailure != nil {
		p.wakeAt(w, st.LastFailure.Add(jobBackoff(backoff, st.Failed)))
	}
}

// newJobPod makes a Job pod named as Kubernetes does: "<job>-<random>", or
// "<job>-<index>-<random>" with index >= 0 (Indexed mode), whose hostname
// is then "<job>-<index>" and whose containers see JOB_COMPLETION_INDEX.
func (p *pass) newJobPod(w *cluster.Workload, index int) *cluster.Pod {
	prefix := w.Name + "-"
	if index >= 0 {
		prefix += strconv.Itoa(index) + "-"
	}
	name := prefix + suffix(p.ids, 5)
	for p.taken(w.Namespace, name) {
		name = prefix + suffix(p.ids, 5)
	}
	pod := p.newPod(w, name)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[cluster.JobNameLabel] = w.Name
	pod.Labels["job-name"] = w.Name
	if index < 0 {
		return pod
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	idx := strconv.Itoa(index)
	pod.Annotations[cluster.JobCompletionIndexAnnotation] = idx
	if w.Template.Hostname == "" {
		pod.Spec.Hostname = w.Name + "-" + idx
	}
	env := cluster.EnvVar{Name: "JOB_COMPLETION_INDEX", Value: idx}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Env = append(pod.Spec.Containers[i].Env, env)
	}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].Env = append(pod.Spec.InitContainers[i].Env, env)
	}
	return pod
}
