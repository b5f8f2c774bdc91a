package manifest

import (
	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// tolerations converts a pod's tolerations with Kubernetes' validation
// rules.
func (c *conv) tolerations(ts []corev1.Toleration, p string) []cluster.Toleration {
	var out []cluster.Toleration
	for i, t := range ts {
		tp := index(p, i)
		if t.Key != "" {
			c.check(field(tp, "key"), t.Key, validation.IsQualifiedName(t.Key))
		}
		switch t.Operator {
		case corev1.TolerationOpExists:
			if t.Value != "" {
				c.errf(field(tp, "value"), "must be empty when operator is Exists")
			}
		case "", corev1.TolerationOpEqual:
			if t.Key == "" {
				c.errf(field(tp, "operator"), "must be Exists when key is empty")
			}
			c.check(field(tp, "value"), t.Value, validation.IsValidLabelValue(t.Value))
		default:
			c.errf(field(tp, "operator"), "%q is not supported (Equal or Exists)", t.Operator)
		}
		eff := cluster.TaintEffect(t.Effect)
		if eff != "" && !cluster.ValidEffect(eff) {
			c.errf(field(tp, "effect"), "%q is not supported (NoSchedule, PreferNoSchedule or NoExecute)", t.Effect)
		}
		if t.TolerationSeconds != nil && eff != cluster.TaintNoExecute {
			c.errf(field(tp, "tolerationSeconds"), "needs effect NoExecute")
		}
		out = append(out, cluster.Toleration{
			Key: t.Key, Operator: string(t.Operator), Value: t.Value, Effect: eff,
			TolerationSeconds: clonePtrInt64(t.TolerationSeconds),
		})
	}
	return out
}

func clonePtrInt64(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// tolerationsToK8s writes tolerations back as given.
func tolerationsToK8s(ts []cluster.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		out = append(out, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: clonePtrInt64(t.TolerationSeconds),
		})
	}
	return out
}
