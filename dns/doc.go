// Package dns is the DNS server built into every agent. It answers the
// cluster's names (services, StatefulSet pods, reverse lookups of pod IPs)
// from a Table precomputed from a cluster.State, and forwards every other
// name to the host's resolvers.
//
// The shape follows consul's agent/dns: the logic is a pure function from
// message to message (Handle), its data is an immutable Table swapped whole
// with an atomic pointer when the state changes, and Server is a thin layer
// that adds sockets, rate limiting, forwarding and metrics. A query for a
// cluster name therefore costs a map lookup and no lock.
package dns
