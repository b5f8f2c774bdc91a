package cluster

import "slices"

// Service names a set of pods (by label selector) and their ports. A
// Service that is not headless has a virtual IP (ClusterIP) that every
// node balances over the ready pods; its DNS name answers with that IP, a
// headless Service's with the ready pods' IPs.
type Service struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	UID       string            `json:"uid"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Annotations are kept for the user's tools; Shoal reads none.
	Annotations map[string]string `json:"annotations,omitempty"`
	Selector    map[string]string `json:"selector,omitempty"`
	Ports       []ServicePort     `json:"ports,omitempty"`
	// ClusterIP is "None" for a headless service, else its virtual IP from
	// the service CIDR: given, or allocated by the FSM (AssignClusterIP).
	// "" is a Service stored before Shoal had virtual IPs.
	ClusterIP string `json:"clusterIP,omitempty"`
	// SessionAffinity is None ("") or ClientIP: a client's connections go
	// to the pod its first one went to for SessionAffinityTimeout seconds
	// (0: DefaultSessionAffinityTimeout) after its last.
	SessionAffinity        string `json:"sessionAffinity,omitempty"`
	SessionAffinityTimeout int32  `json:"sessionAffinityTimeout,omitempty"`
	// ExternalTrafficPolicy is Cluster ("") or Local: a node port's
	// connections go only to the pods on the node they arrived at, with
	// the client's address kept as their source.
	ExternalTrafficPolicy string `json:"externalTrafficPolicy,omitempty"`
	// Type is ClusterIP (default), NodePort or LoadBalancer. The last two
	// publish each port's NodePort on every node's addresses; a
	// LoadBalancer's external addresses are the ready nodes' (k3s
	// ServiceLB's design).
	Type string `json:"type,omitempty"`

	// PublishNotReadyAddresses makes DNS answer with the selected pods
	// that have an address whether they are ready or not (peer discovery
	// of clustered software that must find its peers before it is ready).
	PublishNotReadyAddresses bool `json:"publishNotReadyAddresses,omitempty"`
	// IPFamilies and IPFamilyPolicy are kept as given: Shoal's pod network
	// is IPv4 single-stack, which is all the manifest may ask for.
	IPFamilies     []string `json:"ipFamilies,omitempty"`
	IPFamilyPolicy string   `json:"ipFamilyPolicy,omitempty"`

	// LoadBalancerIngress is a LoadBalancer's status, the ready nodes'
	// addresses: the API fills it when it answers, from the nodes of the
	// moment; it is never stored.
	LoadBalancerIngress []string `json:"loadBalancerIngress,omitempty"`

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
	c.LoadBalancerIngress = slices.Clone(s.LoadBalancerIngress)
	return &c
}

// Service types and policies, as Kubernetes spells them.
const (
	SessionAffinityClientIP    = "ClientIP"
	ExternalTrafficPolicyLocal = "Local"

	ServiceTypeClusterIP    = "ClusterIP"
	ServiceTypeNodePort     = "NodePort"
	ServiceTypeLoadBalancer = "LoadBalancer"
)

// PublishesNodePorts reports whether the service's ports are published on
// the nodes' addresses.
func (s *Service) PublishesNodePorts() bool {
	return s.Type == ServiceTypeNodePort || s.Type == ServiceTypeLoadBalancer
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
	// NodePort is where a NodePort or LoadBalancer service's port is
	// published on every node (NodePortMin to NodePortMax): given, or
	// allocated by the FSM.
	NodePort int32 `json:"nodePort,omitempty"`
	// AppProtocol is kept for the user's tools; Shoal reads none.
	AppProtocol string `json:"appProtocol,omitempty"`
}
