// Package cluster is Shoal's data model: nodes, workloads, pods and services,
// their resources, and State, an immutable snapshot of all of them.
//
// It is pure: no I/O, no clocks, no goroutines. Every other package speaks in
// these types; manifest converts Kubernetes YAML into them, the scheduler
// decides on them, consensus replicates changes to them.
//
// Objects stored in a State are never mutated: a writer copies the object
// (Clone), changes the copy and puts it back in a Txn. That is what makes a
// State safe to hand to any number of readers without locks.
package cluster
