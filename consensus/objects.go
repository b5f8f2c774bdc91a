package consensus

import (
	"fmt"
	"slices"

	"shoal/cluster"
)

// PutObjects creates or updates ConfigMaps, Secrets, Namespaces and
// API-only objects, in order (a Namespace before what goes in it). A
// Secret arrives sealed: the FSM never sees its plaintext.
type PutObjects struct {
	Objects []*cluster.Object `json:"objects"`
	// IfUnchanged stores each object only if the stored one still has the
	// ModifyIndex it carries, and skips it otherwise: a re-seal after a
	// key rotation never overwrites a user's newer write.
	IfUnchanged bool `json:"ifUnchanged,omitempty"`
}

// DeleteObject removes one object; deleting a Namespace deletes everything
// in it (its pods are stopped by their nodes first, as for a workload).
type DeleteObject struct {
	Kind      cluster.ObjectKind `json:"kind"`
	Namespace string             `json:"namespace,omitempty"`
	Name      string             `json:"name"`
}

// SetSecretKey makes key ID the one new Secrets are sealed with. The
// agent that commits it has handed the key to every agent first.
type SetSecretKey struct {
	ID string `json:"id"`
}

func (*PutObjects) Type() CommandType   { return PutObjectsType }
func (*DeleteObject) Type() CommandType { return DeleteObjectType }
func (*SetSecretKey) Type() CommandType { return SetSecretKeyType }

// nsMissing is the error for an object whose namespace does not exist.
func (a *applier) nsMissing(ns string) error {
	if a.txn.NamespaceExists(ns) {
		return nil
	}
	return fmt.Errorf("%w: namespace %q not found (apply a Namespace of that name first)", ErrInvalid, ns)
}

func (c *PutObjects) apply(a *applier) Result {
	// Check everything first, against the state as the earlier objects of
	// the command leave it: a Namespace may come with its contents.
	created := map[string]bool{}
	for _, o := range c.Objects {
		if o == nil || o.Name == "" || o.UID == "" || !slices.Contains(cluster.ObjectKinds, o.Kind) {
			return invalid("object needs a known kind, a name and a UID")
		}
		if o.Kind.Namespaced() != (o.Namespace != "") {
			return invalid("%s %s: namespace %q", o.Kind, o.Name, o.Namespace)
		}
		if o.Kind == cluster.KindNamespace {
			created[o.Name] = true
		} else if o.Namespace != "" && !created[o.Namespace] {
			if err := a.nsMissing(o.Namespace); err != nil {
				return Result{Err: err}
			}
		}
		if o.Kind == cluster.KindSecret && len(o.Sealed) == 0 && len(o.SecretKeys) > 0 {
			return invalid("secret %s/%s: data must be sealed", o.Namespace, o.Name)
		}
		if o.Kind == cluster.KindPersistentVolumeClaim {
			if err := a.checkClaimPut(o); err != nil {
				return Result{Err: err}
			}
		}
	}
	var r Result
	for _, o := range c.Objects {
		old, ok := a.txn.Object(o.Kind, o.Namespace, o.Name)
		if c.IfUnchanged && (!ok || old.ModifyIndex != o.ModifyIndex) {
			r.Skipped++
			continue
		}
		if ok {
			o.UID, o.CreatedAt = old.UID, old.CreatedAt
			keepAutoscalerStatus(o, old)
		}
		a.txn.PutObject(o)
		r.Changed++
	}
	return r
}

// keepAutoscalerStatus keeps what the leader's controller wrote when a
// user applies a HorizontalPodAutoscaler again (a write without status),
// as Kubernetes keeps status across a spec update.
func keepAutoscalerStatus(o, old *cluster.Object) {
	if o.Autoscaler != nil && o.Autoscaler.Status == nil && old.Autoscaler != nil {
		o.Autoscaler.Status = old.Autoscaler.Status
	}
}

func (c *DeleteObject) apply(a *applier) Result {
	o, ok := a.txn.Object(c.Kind, c.Namespace, c.Name)
	if !ok {
		return Result{Err: notFound(kindLower(c.Kind), c.Namespace, c.Name)}
	}
	if c.Kind == cluster.KindPersistentVolumeClaim {
		return a.deleteClaim(o)
	}
	if c.Kind != cluster.KindNamespace {
		a.txn.DeleteObject(c.Kind, c.Namespace, c.Name)
		return Result{Changed: 1}
	}
	if slices.Contains(cluster.BuiltinNamespaces, c.Name) {
		return invalid("namespace %q is built in and cannot be deleted", c.Name)
	}
	return a.deleteNamespace(c.Name)
}

func kindLower(k cluster.ObjectKind) string {
	switch k {
	case cluster.KindConfigMap:
		return "configmap"
	case cluster.KindSecret:
		return "secret"
	case cluster.KindNamespace:
		return "namespace"
	case cluster.KindPersistentVolumeClaim:
		return "persistentvolumeclaim"
	}
	return string(k)
}

// deleteNamespace removes a namespace and what it holds, in one entry:
// workloads and Services go, every pod is stopped (and leaves the state
// once its node reports it stopped, as any deleted pod does). StatefulSet
// volume data stays on its nodes, as a deleted StatefulSet's does.
func (a *applier) deleteNamespace(ns string) Result {
	r := Result{Changed: 1}
	a.txn.DeleteObject(cluster.KindNamespace, "", ns)
	for _, w := range a.txn.Workloads() {
		if w.Namespace == ns {
			a.txn.DeleteWorkload(w.Kind, ns, w.Name)
			r.Changed++
		}
	}
	for _, s := range a.txn.ServicesIn(ns) {
		a.txn.DeleteService(ns, s.Name)
		r.Changed++
	}
	for _, p := range a.txn.PodsIn(ns) {
		if a.terminate(p) {
			r.Changed++
		}
	}
	for _, k := range cluster.ObjectKinds {
		if !k.Namespaced() {
			continue
		}
		for _, o := range a.txn.Objects(k, ns) {
			if k == cluster.KindPersistentVolumeClaim {
				// Its pods are stopping: a claim they hold goes once they
				// are gone (the scheduler's DeleteClaims).
				a.deleteClaim(o)
			} else {
				a.txn.DeleteObject(k, ns, o.Name)
			}
			r.Changed++
		}
	}
	return r
}

func (c *SetSecretKey) apply(a *applier) Result {
	if c.ID == "" {
		return invalid("secret key needs an ID")
	}
	t := a.txn.Trust()
	t.SecretKeyID = c.ID
	a.txn.SetTrust(t)
	return Result{Changed: 1}
}
