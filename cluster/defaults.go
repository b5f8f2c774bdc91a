package cluster

// Defaults that more than one package relies on, declared once: the agent's
// flags, the FSM, the runtime, DNS, gossip and the CLI all read them here.
// Changing one changes a contract users rely on (see the README).
const (
	// DefaultDomain is the cluster DNS domain; the cluster's own, stored
	// in Raft (Config.Domain), wins wherever it is known.
	DefaultDomain = "cluster.local"
	// DefaultClusterCIDR is the pod network, one /24 per node.
	DefaultClusterCIDR = "10.88.0.0/16"
	// DefaultServiceCIDR is where Services' virtual IPs come from (k3s's
	// default); it must not overlap the cluster CIDR.
	DefaultServiceCIDR = "10.43.0.0/16"
	// DefaultBridgeName is a node's pod bridge.
	DefaultBridgeName = "shoal0"
	// DefaultContainerdNamespace holds an agent's containers.
	DefaultContainerdNamespace = "shoal"

	// NodePortMin and NodePortMax bound the node ports of NodePort and
	// LoadBalancer Services (Kubernetes' default range): a node port is
	// published on every address of every node, so it must not take a
	// port the node uses for anything else.
	NodePortMin = 30000
	NodePortMax = 32767

	// Ports an agent listens on unless told otherwise.
	DefaultGossipPort = 7946 // memberlist, TCP and UDP
	DefaultRaftPort   = 7947
	DefaultAPIPort    = 7948
)
