package policy

import (
	"errors"
	"fmt"
	"strings"

	"shoal/cluster"
)

// Level is a Pod Security Standards level.
type Level string

// The levels, from most to least permissive.
const (
	Privileged Level = "privileged"
	Baseline   Level = "baseline"
	Restricted Level = "restricted"
)

// ParseLevel returns the level named s.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case Privileged, Baseline, Restricted:
		return l, nil
	}
	return "", fmt.Errorf("level %q: expected privileged, baseline or restricted", s)
}

// Options is the policy in force: the level and the host directories an
// admin allows hostPath volumes under (a Shoal addition: Kubernetes'
// baseline forbids hostPath outright). The zero Options is Privileged,
// Kubernetes' default; a level Check does not know is checked as
// Restricted, so that a bad value never loosens the policy.
type Options struct {
	Level            Level
	AllowedHostPaths []string
}

// Violation is one rule a pod breaks. Field is the path inside the pod
// spec, as kubectl would name it ("containers[0].securityContext.privileged",
// "volumes[1].hostPath.path", "hostPID"); Message says what is wrong and
// which level forbids it; Level is the most permissive level that forbids
// it (Baseline for a privileged container, even under Restricted).
type Violation struct {
	Field   string
	Message string
	Level   Level
}

// String is "field: message".
func (v Violation) String() string { return v.Field + ": " + v.Message }

// Check returns every violation of spec under opt, in spec order: init
// containers, containers, volumes, then the pod's securityContext and host
// namespaces. There are none under Privileged.
func Check(spec *cluster.PodSpec, opt Options) []Violation {
	if spec == nil || opt.Level == "" || opt.Level == Privileged {
		return nil
	}
	c := &checker{spec: spec, opt: opt, restricted: opt.Level != Baseline}
	for i := range spec.InitContainers {
		c.container(fmt.Sprintf("initContainers[%d]", i), &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		c.container(fmt.Sprintf("containers[%d]", i), &spec.Containers[i])
	}
	for i, v := range spec.Volumes {
		c.volume(fmt.Sprintf("volumes[%d]", i), v)
	}
	c.pod()
	return c.out
}

// Explain joins violations into one error message for an object
// ("deployment web"), each field prefixed with the path of the pod spec in
// the object ("spec" for a Pod, "spec.template.spec" for workloads). It
// returns nil when there are none.
func Explain(object, prefix string, vs []Violation) error {
	if len(vs) == 0 {
		return nil
	}
	var b strings.Builder
	if object != "" {
		b.WriteString(object + ": ")
	}
	for i, v := range vs {
		if i > 0 {
			b.WriteString("; ")
		}
		if prefix != "" {
			b.WriteString(prefix + ".")
		}
		b.WriteString(v.String())
	}
	return errors.New(b.String())
}

// checker collects the violations of one pod spec.
type checker struct {
	spec       *cluster.PodSpec
	opt        Options
	restricted bool
	out        []Violation
}

const (
	allowPrivileged = " (allow with: shoal policy set --level privileged)"
	allowBaseline   = " (allow with: shoal policy set --level baseline)"
)

// baseline records a violation of the baseline level; what names the
// forbidden thing ("privileged containers are").
func (c *checker) baseline(field, what string) {
	c.add(field, Baseline, what+" not allowed by the baseline pod security level"+allowPrivileged)
}

// forbidden records a violation of the restricted level only; what names
// the forbidden thing.
func (c *checker) forbidden(field, what string) {
	c.add(field, Restricted, what+" not allowed by the restricted pod security level"+allowBaseline)
}

// requires records a restricted-level requirement that is not met.
func (c *checker) requires(field, what string) {
	c.add(field, Restricted, "the restricted pod security level requires "+what+allowBaseline)
}

func (c *checker) add(field string, l Level, msg string) {
	c.out = append(c.out, Violation{Field: field, Message: msg, Level: l})
}
