// Package integration tests Shoal the way users run it: the real `shoal`
// binary, built once per test binary, started as agent processes with real
// containerd, and driven through the CLI exactly as the README describes
// it (`--addr`, `-o json` in Kubernetes shape).
//
// The harness (harness.go) offers an Agent with verbs (Kill9, Restart,
// Shoal, Pods, Exec, Describe) and a Cluster of them; netns.go creates
// network namespaces and veths on a named bridge so several agents can each
// have their own address on one machine; registry.go serves the tests'
// busybox image from a docker-registry on loopback.
//
// The tests need root (containerd, network namespaces, cgroups). Without it
// they skip on a developer's machine and fail under CI=true, so CI never
// passes by skipping.
package integration
