package runtime

// Labels Shoal puts on every containerd container it creates, so an agent
// that restarts finds and adopts what it was running.
const (
	LabelPodUID       = "io.shoal.pod.uid"
	LabelPodName      = "io.shoal.pod.name"
	LabelPodNamespace = "io.shoal.pod.namespace"
	LabelContainer    = "io.shoal.container.name"
	// LabelGeneration is the pod's template hash at creation: a container
	// whose spec changed is recreated, not restarted.
	LabelGeneration = "io.shoal.generation"
	// LabelAttempt counts how often the container was (re)started.
	LabelAttempt = "io.shoal.attempt"
)
