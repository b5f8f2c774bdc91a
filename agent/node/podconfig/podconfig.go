// Package podconfig resolves what a pod takes from the cluster state and
// from itself, with Kubernetes' semantics: a container's environment
// (env valueFrom, envFrom, service links, $(VAR) references) and the files
// of its configMap, secret, downwardAPI and projected volumes. It is pure:
// the state is a snapshot, and Secrets are opened through a SecretOpener.
//
// A referenced ConfigMap, Secret or key that does not exist is an error
// (*MissingError, with kubelet's wording) unless the reference is
// optional, when it is left out.
package podconfig

import (
	"fmt"

	"shoal/cluster"
)

// SecretOpener decrypts a Secret's sealed data; the agent's
// *seal.Keyring is one.
type SecretOpener interface {
	Open(namespace, name string, sealed []byte) (map[string][]byte, error)
}

// Source is what a resolution reads: the state, the pod, what the node
// knows of the pod, and the key to its Secrets.
type Source struct {
	State *cluster.State
	Pod   *cluster.Pod
	// PodIP and HostIP answer status.podIP(s) and status.hostIP(s).
	PodIP, HostIP string
	// Allocatable is the node's: what an unset limit reads as.
	Allocatable cluster.Resources
	// Secrets opens Secrets; nil: every Secret fails to open.
	Secrets SecretOpener
}

// MissingError is a referenced ConfigMap, Secret or key that does not
// exist. The pod waits until it does.
type MissingError struct {
	msg string
}

func (e *MissingError) Error() string { return e.msg }

func notFound(kind cluster.ObjectKind, name string) *MissingError {
	return &MissingError{msg: fmt.Sprintf("%s %q not found", lowerKind(kind), name)}
}

func lowerKind(kind cluster.ObjectKind) string {
	if kind == cluster.KindSecret {
		return "secret"
	}
	return "configmap"
}

// objects reads and opens the ConfigMaps and Secrets of one resolution,
// each once.
type objects struct {
	src     *Source
	secrets map[string]map[string][]byte
}

func newObjects(src *Source) *objects {
	return &objects{src: src, secrets: map[string]map[string][]byte{}}
}

// configMap returns a ConfigMap's entries, text and binary; nil and no
// error when it is missing and optional.
func (o *objects) configMap(name string, optional bool) (data map[string]string, binary map[string][]byte, err error) {
	obj, ok := o.src.State.Object(cluster.KindConfigMap, o.src.Pod.Namespace, name)
	if !ok {
		if optional {
			return nil, nil, nil
		}
		return nil, nil, notFound(cluster.KindConfigMap, name)
	}
	return obj.Data, obj.BinaryData, nil
}

// secret returns a Secret's data, opened; nil and no error when it is
// missing and optional.
func (o *objects) secret(name string, optional bool) (map[string][]byte, error) {
	if d, ok := o.secrets[name]; ok {
		return d, nil
	}
	ns := o.src.Pod.Namespace
	obj, ok := o.src.State.Object(cluster.KindSecret, ns, name)
	if !ok {
		if optional {
			return nil, nil
		}
		return nil, notFound(cluster.KindSecret, name)
	}
	data := map[string][]byte{}
	if len(obj.Sealed) > 0 {
		if o.src.Secrets == nil {
			return nil, fmt.Errorf("secret %q: this node cannot open Secrets (no keyring)", name)
		}
		var err error
		if data, err = o.src.Secrets.Open(ns, name, obj.Sealed); err != nil {
			return nil, fmt.Errorf("secret %q: %w", name, err)
		}
	}
	o.secrets[name] = data
	return data, nil
}
