package cluster

import "slices"

// Service names a set of pods (by label selector) and their ports; the DNS
// server answers its name with the ready pods' IPs.
type Service struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	UID       string            `json:"uid"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Annotations are kept for the user's tools; Shoal reads none.
	Annotations map[string]string `json:"annotations,omitempty"`
	Selector    map[string]string `json:"selector,omitempty"`
	Ports       []ServicePort     `json:"ports,omitempty"`
	// ClusterIP is "None" for a headless service, "" otherwise; both answer
	// with pod IPs (there are no virtual IPs yet).
	ClusterIP string `json:"clusterIP,omitempty"`
	// Type is ClusterIP (default) or NodePort.
	Type string `json:"type,omitempty"`

	CreateIndex uint64 `json:"createIndex,omitempty"`
	ModifyIndex uint64 `json:"modifyIndex,omitempty"`
}

// Key is the service's "namespace/name".
func (s *Service) Key() string { return Key(s.Namespace, s.Name) }

// Clone returns a deep copy of s.
func (s *Service) Clone() *Service {
	c := *s
	c.Labels = cloneMap(s.Labels)
	c.Annotations = cloneMap(s.Annotations)
	c.Selector = cloneMap(s.Selector)
	c.Ports = slices.Clone(s.Ports)
	return &c
}

// ServicePort is one port of a service.
type ServicePort struct {
	Name string `json:"name,omitempty"`
	// Protocol is TCP (default), UDP or SCTP.
	Protocol string `json:"protocol,omitempty"`
	Port     int32  `json:"port"`
	// TargetPort is the pods' port number; TargetPortName names a container
	// port instead. Both zero means Port.
	TargetPort     int32  `json:"targetPort,omitempty"`
	TargetPortName string `json:"targetPortName,omitempty"`
	NodePort       int32  `json:"nodePort,omitempty"`
}
