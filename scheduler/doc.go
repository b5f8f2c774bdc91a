// Package scheduler decides, in one pure pass over a cluster.State, which
// pods to create, place, terminate and delete; the leader commits the
// resulting cluster.Plan through Raft, where each placement is re-checked
// against the state of that moment.
//
// A pass (Compute) has four steps:
//
//  1. scan: every pod once, grouping by owner, collecting pending pods,
//     deleting garbage (terminating pods nobody will report on again) and
//     stopping orphans;
//  2. reconcile each Deployment (scale, rolling update, Recreate, replace
//     lost and finished pods) and StatefulSet (ordinals, ordered creation,
//     one-at-a-time scale-down and update, claims) and DaemonSet (a pod
//     bound to each node cluster.ShouldRunDaemon picks, rolling update or
//     OnDelete) and ReplicaSet (scale and replace, no rollout);
//  3. place every unplaced pod (a daemon pod on its own node only,
//     cordoned or not): small filters that explain themselves, then
//     spread and least-requested scoring over a bounded sample of feasible
//     nodes;
//  4. report why pods stay pending, only when the reason changed, so that a
//     converged cluster yields an empty plan.
//
// It is pure by construction: time and randomness come in as arguments
// (now, IDSource), there is no I/O and no goroutine, and it imports only
// cluster and the standard library. Calling it twice on the same state with
// identically seeded IDSources gives identical plans.
//
// The leader does not run the whole pass on every change: Options.Run
// restricts it to a Scope (what the state's change feed says changed since
// the last pass, the workloads whose wake-up came, the nodes whose fencing
// changed), and Tracker decides between no pass, a restricted one and a
// full one. The restricted pass is the full pass over fewer keys, so on a
// state where the earlier plans were applied both decide the same
// (TestTrackerMatchesFullPass).
//
// Speed comes from never scanning every node for every pod: nodes that pass
// the static filters (ready, not cordoned, nodeSelector) are computed once
// per selector; each pod shape (requests, selector, host ports) keeps its
// own candidate list and rotating offset, drops nodes it found too full
// (usage only grows within a pass, so they stay too full), and stops after
// a bounded number of feasible nodes, as Kubernetes' percentageOfNodesToScore
// and Nomad's candidate limit do. A shape that fits nowhere is remembered as
// such for the rest of the pass.
package scheduler
