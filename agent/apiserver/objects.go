package apiserver

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/manifest"
	"shoal/seal"
)

// SecretKeys seals and opens Secrets with this agent's keyring
// (*seal.Keyring).
type SecretKeys interface {
	Seal(id, namespace, name string, data map[string][]byte) ([]byte, error)
	Open(namespace, name string, sealed []byte) (map[string][]byte, error)
	Keys() []seal.Key
	Add(keys ...seal.Key) error
	Has(id string) bool
}

// objectResources maps the API's plural names to the stored kinds, with
// kubectl's names for apply's messages.
var objectResources = map[string]struct {
	kind  cluster.ObjectKind
	group string
}{
	"configmaps":               {cluster.KindConfigMap, "configmap"},
	"secrets":                  {cluster.KindSecret, "secret"},
	"namespaces":               {cluster.KindNamespace, "namespace"},
	"serviceaccounts":          {cluster.KindServiceAccount, "serviceaccount"},
	"roles":                    {cluster.KindRole, "role.rbac.authorization.k8s.io"},
	"rolebindings":             {cluster.KindRoleBinding, "rolebinding.rbac.authorization.k8s.io"},
	"clusterroles":             {cluster.KindClusterRole, "clusterrole.rbac.authorization.k8s.io"},
	"clusterrolebindings":      {cluster.KindClusterRoleBinding, "clusterrolebinding.rbac.authorization.k8s.io"},
	"poddisruptionbudgets":     {cluster.KindPodDisruptionBudget, "poddisruptionbudget.policy"},
	"persistentvolumeclaims":   {cluster.KindPersistentVolumeClaim, "persistentvolumeclaim"},
	"horizontalpodautoscalers": {cluster.KindHorizontalPodAutoscaler, "horizontalpodautoscaler.autoscaling"},
}

func init() {
	for plural, r := range objectResources {
		kindNames[string(r.kind)] = struct{ group, plural string }{r.group, plural}
	}
}

// handleObjects lists the objects of one kind. Secrets are opened for the
// answer: their route needs permSecrets, which view lacks.
func (s *Server) handleObjects(kind cluster.ObjectKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, answered := s.readState(w, r)
		if answered {
			return
		}
		ns := r.URL.Query().Get("namespace")
		if !kind.Namespaced() {
			ns = ""
		}
		out := api.List[api.ObjectView]{Index: st.Index(), Items: []api.ObjectView{}}
		byNS := map[string][]*cluster.Pod{} // a namespace's pods, for its budgets
		for _, o := range st.Objects(kind, ns) {
			v := api.ObjectView{Object: o}
			if kind == cluster.KindSecret {
				data, err := s.openSecret(o)
				if err != nil {
					fail(w, err)
					return
				}
				c := o.Clone()
				c.Sealed = nil
				v.Object, v.SecretData = c, data
			}
			if o.Budget != nil {
				pods, ok := byNS[o.Namespace]
				if !ok {
					pods = podsIn(st, o.Namespace)
					byNS[o.Namespace] = pods
				}
				bs := o.Budget.Status(pods)
				v.Budget = &bs
			}
			if o.Claim != nil {
				v.Claim = claimStatus(st, o, podsIn(st, o.Namespace))
			}
			out.Items = append(out.Items, v)
		}
		if kind == cluster.KindNamespace {
			out.Items = withBuiltinNamespaces(out.Items, st)
		}
		writeJSON(w, out)
	}
}

// withBuiltinNamespaces lists the namespaces that exist without an object,
// as Kubernetes lists its own.
func withBuiltinNamespaces(items []api.ObjectView, st *cluster.State) []api.ObjectView {
	for _, ns := range cluster.BuiltinNamespaces {
		if _, ok := st.Object(cluster.KindNamespace, "", ns); !ok {
			items = append(items, api.ObjectView{Object: &cluster.Object{Kind: cluster.KindNamespace, Name: ns}})
		}
	}
	slices.SortFunc(items, func(a, b api.ObjectView) int { return cmpString(a.Object.Name, b.Object.Name) })
	return items
}

// claimStatus is a PersistentVolumeClaim's phase, node and users.
func claimStatus(st *cluster.State, o *cluster.Object, pods []*cluster.Pod) *cluster.ClaimStatus {
	var loc *cluster.ClaimLocation
	if l, ok := st.ClaimLocation(o.Namespace, o.Name); ok && !l.Released {
		loc = l
	}
	cs := cluster.ClaimStatusOf(loc, pods, o.Name)
	return &cs
}

func podsIn(st *cluster.State, ns string) []*cluster.Pod {
	var out []*cluster.Pod
	for p := range st.Pods() {
		if p.Namespace == ns {
			out = append(out, p)
		}
	}
	return out
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

func (s *Server) openSecret(o *cluster.Object) (map[string][]byte, error) {
	if len(o.Sealed) == 0 {
		return map[string][]byte{}, nil
	}
	if s.cfg.Secrets == nil {
		return nil, errors.New("this agent holds no secret keys")
	}
	return s.cfg.Secrets.Open(o.Namespace, o.Name, o.Sealed)
}

// applyObject turns a ConfigMap, Secret, Namespace or API-only object into
// the command that stores it, sealing a Secret's data with the cluster's
// active key.
func (s *Server) applyObject(st *cluster.State, o manifest.Object, t time.Time) (string, consensus.Command, error) {
	obj := o.Generic.Clone()
	old, exists := st.Object(obj.Kind, obj.Namespace, obj.Name)
	if exists {
		obj.UID, obj.CreatedAt = old.UID, old.CreatedAt
	} else {
		obj.UID, obj.CreatedAt = s.cfg.NewUID(), t
	}
	if obj.Kind == cluster.KindSecret {
		same, err := s.sealSecret(st, obj, old, o.SecretData)
		if err != nil {
			return "", nil, err
		}
		if same {
			return "unchanged", nil, nil
		}
	} else if exists && sameObject(old, obj) {
		return "unchanged", nil, nil
	}
	if exists && old.Immutable && !sameData(old, obj) {
		return "", nil, badRequest{fmt.Errorf("%s %s is immutable: its data cannot change (delete and re-create it)", obj.Kind, obj.Name)}
	}
	verb := "created"
	if exists {
		verb = "configured"
	}
	return verb, &consensus.PutObjects{Objects: []*cluster.Object{obj}}, nil
}

// sealSecret seals a Secret's data into obj, keeping the stored
// ciphertext when the data did not change (a re-seal would differ only by
// its nonce); same reports that nothing changed at all.
func (s *Server) sealSecret(st *cluster.State, obj, old *cluster.Object, data map[string][]byte) (same bool, err error) {
	if old != nil {
		prev, err := s.openSecret(old)
		if err != nil {
			return false, err
		}
		if sameSecretData(prev, data) {
			obj.Sealed = old.Sealed
			return sameObject(old, obj), nil
		}
	}
	if len(data) == 0 {
		return false, nil
	}
	id := st.Trust().SecretKeyID
	if s.cfg.Secrets == nil || id == "" {
		return false, errors.New("the cluster has no key to seal Secrets with yet: run `shoal secrets rotate-key`")
	}
	obj.Sealed, err = s.cfg.Secrets.Seal(id, obj.Namespace, obj.Name, data)
	return false, err
}

func sameSecretData(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return bytes.Equal(x, y) })
}

// sameObject compares what a user can change, not the indexes.
func sameObject(a, b *cluster.Object) bool {
	strip := func(o *cluster.Object) *cluster.Object {
		c := o.Clone()
		c.CreateIndex, c.ModifyIndex = 0, 0
		if c.Autoscaler != nil {
			c.Autoscaler.Status = nil // the leader's
		}
		return c
	}
	return sameJSON(strip(a), strip(b))
}

// sameData compares the data of an immutable object (a Secret's by its
// ciphertext, which sealSecret keeps when the data is the same).
func sameData(a, b *cluster.Object) bool {
	return maps.Equal(a.Data, b.Data) && sameSecretData(a.BinaryData, b.BinaryData) &&
		bytes.Equal(a.Sealed, b.Sealed) && slices.Equal(a.SecretKeys, b.SecretKeys)
}

// checkNamespaces refuses objects whose namespace neither exists nor is
// created by the same apply.
func checkNamespaces(st *cluster.State, objs []manifest.Object) []error {
	creating := map[string]bool{}
	for _, o := range objs {
		if o.Generic != nil && o.Generic.Kind == cluster.KindNamespace {
			creating[o.Name] = true
		}
	}
	var errs []error
	for _, o := range objs {
		if o.Namespace != "" && !creating[o.Namespace] && !st.NamespaceExists(o.Namespace) {
			errs = append(errs, fmt.Errorf("%s: namespace %q not found (apply a Namespace of that name first, or in the same apply)", o.Where(), o.Namespace))
		}
	}
	return errs
}

// namespacesFirst orders an apply's commands so that the Namespaces it
// creates exist before what goes in them.
func namespacesFirst(cmds []consensus.Command) {
	isNS := func(c consensus.Command) bool {
		p, ok := c.(*consensus.PutObjects)
		return ok && len(p.Objects) > 0 && p.Objects[0].Kind == cluster.KindNamespace
	}
	slices.SortStableFunc(cmds, func(a, b consensus.Command) int {
		switch {
		case isNS(a) && !isNS(b):
			return -1
		case isNS(b) && !isNS(a):
			return 1
		}
		return 0
	})
}
