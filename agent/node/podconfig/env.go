package podconfig

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"shoal/cluster"
)

// Container is container c as it is to be created: its environment
// resolved to literal values and its command and args expanded, as
// kubelet does when it creates a container:
//
//   - service links (unless the pod turned them off) come first and lose
//     to anything the container sets itself;
//   - envFrom sources in order, a later one winning, then env entries,
//     which win over envFrom; keys that are not valid variable names are
//     skipped and returned in skipped;
//   - $(VAR) in a literal env value refers to the variables set before it
//     and to the service links; $(VAR) in command and args to the whole
//     environment; $$ is a literal $, and an unknown $(VAR) stays as it is.
func Container(src *Source, c cluster.Container) (out cluster.Container, skipped []string, err error) {
	env := newEnvList()
	var links map[string]string
	if src.Pod.Spec.ServiceLinks() {
		links = serviceEnv(src.State, src.Pod.Namespace)
	}
	objs := newObjects(src)
	for _, from := range c.EnvFrom {
		s, err := objs.envFrom(env, from)
		if err != nil {
			return cluster.Container{}, nil, err
		}
		skipped = append(skipped, s...)
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, Expand(e.Value, mapping(env.values, links)))
			continue
		}
		// The error is not prefixed: it names what is missing, and it is
		// the message the pod shows, as kubelet's is.
		v, ok, err := objs.valueFrom(c, e.ValueFrom)
		if err != nil {
			return cluster.Container{}, nil, err
		}
		if ok {
			env.set(e.Name, v)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(links)) {
		if _, set := env.values[name]; !set {
			env.set(name, links[name])
		}
	}
	out = c.Clone()
	out.Env, out.EnvFrom = env.list(), nil
	all := mapping(env.values)
	for i := range out.Command {
		out.Command[i] = Expand(out.Command[i], all)
	}
	for i := range out.Args {
		out.Args[i] = Expand(out.Args[i], all)
	}
	return out, skipped, nil
}

// envList is an environment in the order names were first set.
type envList struct {
	names  []string
	values map[string]string
}

func newEnvList() *envList { return &envList{values: map[string]string{}} }

func (l *envList) set(name, value string) {
	if _, ok := l.values[name]; !ok {
		l.names = append(l.names, name)
	}
	l.values[name] = value
}

func (l *envList) list() []cluster.EnvVar {
	out := make([]cluster.EnvVar, 0, len(l.names))
	for _, n := range l.names {
		out = append(out, cluster.EnvVar{Name: n, Value: l.values[n]})
	}
	return out
}

// envFrom sets the variables of one envFrom source and returns the names
// it skipped as invalid, sorted.
func (o *objects) envFrom(env *envList, from cluster.EnvFromSource) ([]string, error) {
	values := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		data, _, err := o.configMap(from.ConfigMapRef.Name, from.ConfigMapRef.Optional)
		if err != nil {
			return nil, err
		}
		// Only text entries, as in Kubernetes: binaryData is for files.
		for k, v := range data {
			values[k] = v
		}
	case from.SecretRef != nil:
		data, err := o.secret(from.SecretRef.Name, from.SecretRef.Optional)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			values[k] = string(v)
		}
	}
	var skipped []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		name := from.Prefix + k
		if len(validation.IsEnvVarName(name)) > 0 {
			skipped = append(skipped, name)
			continue
		}
		env.set(name, values[k])
	}
	return skipped, nil
}

// valueFrom resolves one env var's source; ok is false when an optional
// reference is missing and the variable is left out.
func (o *objects) valueFrom(c cluster.Container, s *cluster.EnvVarSource) (v string, ok bool, err error) {
	switch {
	case s.FieldRef != nil:
		v, err := fieldValue(o.src, s.FieldRef.FieldPath)
		return v, err == nil, err
	case s.ResourceFieldRef != nil:
		v, err := resourceValue(o.src, c.Name, s.ResourceFieldRef)
		return v, err == nil, err
	case s.ConfigMapKeyRef != nil:
		k := s.ConfigMapKeyRef
		data, _, err := o.configMap(k.Name, k.Optional)
		if err != nil || data == nil && k.Optional {
			return "", false, err
		}
		v, ok := data[k.Key]
		if !ok && !k.Optional {
			return "", false, &MissingError{msg: fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", k.Key, o.src.Pod.Namespace, k.Name)}
		}
		return v, ok, nil
	case s.SecretKeyRef != nil:
		k := s.SecretKeyRef
		data, err := o.secret(k.Name, k.Optional)
		if err != nil || data == nil && k.Optional {
			return "", false, err
		}
		v, ok := data[k.Key]
		if !ok && !k.Optional {
			return "", false, &MissingError{msg: fmt.Sprintf("couldn't find key %s in Secret %s/%s", k.Key, o.src.Pod.Namespace, k.Name)}
		}
		return string(v), ok, nil
	}
	return "", false, fmt.Errorf("valueFrom has no source")
}

// serviceEnv is kubelet's service links for the Services of namespace ns
// that have a virtual IP: for a Service "redis-primary" with port 6379
// named "tcp", REDIS_PRIMARY_SERVICE_HOST, REDIS_PRIMARY_SERVICE_PORT(_TCP),
// REDIS_PRIMARY_PORT and REDIS_PRIMARY_PORT_6379_TCP(_PROTO, _PORT,
// _ADDR), all with the ClusterIP. Headless Services have none, as in
// Kubernetes, nor has one stored before Shoal had virtual IPs.
func serviceEnv(st *cluster.State, ns string) map[string]string {
	out := map[string]string{}
	for _, s := range st.Services() {
		if s.Namespace != ns || !s.HasClusterIP() {
			continue
		}
		host := s.ClusterIP
		prefix := envName(s.Name)
		out[prefix+"_SERVICE_HOST"] = host
		for i, p := range s.Ports {
			port := strconv.Itoa(int(p.Port))
			proto := p.Protocol
			if proto == "" {
				proto = "TCP"
			}
			url := strings.ToLower(proto) + "://" + net.JoinHostPort(host, port)
			if i == 0 {
				out[prefix+"_SERVICE_PORT"] = port
				out[prefix+"_PORT"] = url // Docker links special-case the first port
			}
			if p.Name != "" {
				out[prefix+"_SERVICE_PORT_"+envName(p.Name)] = port
			}
			pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
			out[pp] = url
			out[pp+"_PROTO"] = strings.ToLower(proto)
			out[pp+"_PORT"] = port
			out[pp+"_ADDR"] = host
		}
	}
	return out
}

func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }

// mapping looks a name up in each context in turn; an unknown name
// expands to its own reference, unchanged.
func mapping(contexts ...map[string]string) func(string) string {
	return func(name string) string {
		for _, c := range contexts {
			if v, ok := c[name]; ok {
				return v
			}
		}
		return "$(" + name + ")"
	}
}

// Expand replaces $(NAME) references in s with lookup(NAME), as
// Kubernetes does: $$ is an escaped $, and a $ not followed by ( or $ is
// kept, as is an unterminated $( .
func Expand(s string, lookup func(string) string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			b.WriteString(lookup(s[i+2 : i+2+end]))
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
