// Package autopilot makes the leader's decisions about the cluster's own
// health: who votes in Raft, which nodes are Ready, NotReady or Down, and
// when a silent node's fencing lease has surely run out.
//
// Everything here is a pure function of what the leader observed (the Raft
// configuration, gossip member states with the leader-clock time each state
// was entered) and of a `now` passed in. The package reads no clock and does
// no I/O, so every decision can be tested as a table and replayed from a log
// line. The agent's leader loop gathers the facts, calls in here,
// and carries out what comes back. The only state kept is in Leases and
// Holder, which remember renewal times that their callers hand them.
//
// # Membership invariants
//
// PlanMembership holds to these; the tests check them on every plan,
// table-driven and on seeded random inputs.
//
//  1. The leader (Input.LeaderID) is never removed or demoted, whatever
//     gossip says about it: it is running this code, so it is alive.
//  2. Nothing is proposed unless a quorum of the current voters is alive.
//     Without one no change could commit, and gossip that reports a lost
//     quorum while Raft still works is the last thing to reshape the
//     cluster on.
//  3. Each change moves at most one server in or out of the voter set, and
//     after each one, in order, a quorum of the resulting voters is alive.
//     So the planner never removes 2 of 3 voters at once; it removes one,
//     promotes a replacement, and removes the next in a later plan.
//  4. At most one voter is removed per plan, and that plan ends after its
//     replacement promotion, so the next removal is planned from a freshly
//     observed configuration.
//  5. A voter is removed only when its member left (no grace: it said so),
//     or has been dead for at least DeadGrace, or, absent from gossip
//     altogether, the leader has led for DeadGrace without hearing of it.
//     A suspect is never removed.
//  6. Only a server that was already a non-voter when observed, and whose
//     member has been alive for StableFor, is promoted: a member added in
//     this plan waits for the next, after it has caught up on the log.
//  7. Growth ends on an odd voter count: a single candidate is not promoted
//     from 1 to 2 or 3 to 4 voters (an even count tolerates no more failures
//     than the odd count below it and is one more machine to lose).
//  8. The target voter count is odd and at least 1; voters beyond it are
//     demoted, dead or suspect ones first, then ones from the zone with the
//     most voters.
//  9. A plan has at most maxChanges changes, and at most maxVoterChanges of
//     them change the voter set; the caller applies them in order, stops at
//     the first error, and plans again from a new observation.
//  10. The output depends only on the input's content, not on its order.
//  11. Raft holds the voters and at most ReplicasPerZone non-voting
//     replicas per zone of present agents, MaxReplicas in all, plus, while
//     voters are short of the target, one non-voter per missing voter.
//     Nobody is added beyond that; every other agent is a client of the
//     state stream. A replica (not a voter-to-be) must have been alive for
//     StableFor before it is added.
//  12. Non-voters beyond that bound are removed one per plan, none in a
//     plan that moves voters, never a voter-to-be, unhealthy ones first.
//     Within the bound a healthy replica stays: it is never swapped for
//     another agent for its name or its zone.
package autopilot
