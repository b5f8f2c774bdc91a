// Package policy is Shoal's pod security policy: it follows the Kubernetes
// Pod Security Standards (v1.31 rules) and their three cumulative levels.
// Privileged allows everything; Baseline forbids known privilege
// escalations (host namespaces, privileged containers, extra capabilities,
// host paths, unsafe sysctls, unconfined seccomp); Restricted adds current
// hardening practice (non-root, no privilege escalation, all capabilities
// dropped, a seccomp profile, only emptyDir and claim volumes).
//
// Two differences from Kubernetes: hostPort is allowed at every level, as it
// is how Shoal publishes ports; and Baseline allows hostPath volumes under
// the directories an admin lists in Options.AllowedHostPaths (Kubernetes
// forbids them outright; Restricted still does).
//
// Policy is checked when objects are applied: a pod spec with violations is
// refused as a whole and nothing in the cluster changes. The package is pure.
package policy
