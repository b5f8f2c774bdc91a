package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"shoal/autopilot"
	"shoal/consensus"
)

// leaseKeeper is the leader's side of StatefulSet fencing: it renews the
// lease of a node that asks, but only after confirming with a quorum that
// it still leads, so a deposed leader in a minority vouches for nobody.
// The renewals of a short window share one confirmation (verifyBatcher).
type leaseKeeper struct {
	store  leaderCheck
	lease  time.Duration
	margin time.Duration
	verify *verifyBatcher
	// leases is replaced each time this agent becomes leader: a new leader
	// saw no renewals and must wait a full lease from its election.
	leases atomic.Pointer[autopilot.Leases]
}

// leaderCheck is how the lease keeper confirms that it still leads;
// consensus.Store implements it.
type leaderCheck interface {
	IsLeader() bool
	Leader() (addr, id string)
	VerifyLeader(ctx context.Context) error
}

// verifyWindowDiv divides the lease into the window in which renewals
// gather for one leadership check: 250 ms of the default 10 s lease, a
// tenth of the lease/4 a renewal may take before its node gives up on it.
const verifyWindowDiv = 40

func newLeaseKeeper(store leaderCheck, lease, margin time.Duration) *leaseKeeper {
	if lease <= 0 {
		lease = autopilot.DefaultLease
	}
	k := &leaseKeeper{store: store, lease: lease, margin: margin,
		verify: newVerifyBatcher(store.VerifyLeader, lease/verifyWindowDiv, lease/4)}
	k.elected(time.Now())
	return k
}

// elected starts the leases afresh at the start of a term.
func (k *leaseKeeper) elected(now time.Time) {
	k.leases.Store(autopilot.NewLeases(k.lease, k.margin, now))
}

// Renew implements apiserver.LeaseKeeper.
func (k *leaseKeeper) Renew(ctx context.Context, node string) error {
	if !k.store.IsLeader() {
		addr, id := k.store.Leader()
		return &consensus.NotLeaderError{LeaderAddr: addr, LeaderID: id}
	}
	if err := k.verify.Verify(ctx); err != nil {
		return err
	}
	k.leases.Load().Renew(node, time.Now())
	return nil
}

// expired lists the nodes whose lease has surely run out.
func (k *leaseKeeper) expired(nodes []string) map[string]bool {
	return k.leases.Load().ExpiredNodes(nodes, time.Now())
}

// leaseHolder is the node's side: it may run StatefulSet pods only while
// its last confirmed renewal is younger than the lease.
type leaseHolder struct{ h *autopilot.Holder }

func (l *leaseHolder) valid() bool { return l.h.Valid(time.Now()) }

// startLeaseRenewal renews this node's lease with the leader a few times
// per lease period.
func startLeaseRenewal(loop func(func(context.Context)), w *leaderWriter, cfg Config, log *slog.Logger) *leaseHolder {
	// The node gives up a quarter of the lease early: after its lease lapses
	// it still needs a resync tick and a (capped) grace period to stop its
	// StatefulSet pods, all before the leader's lease + margin runs out.
	holder := &leaseHolder{h: autopilot.NewHolder(cfg.Lease * 3 / 4)}
	loop(func(ctx context.Context) {
		log = log.With("component", "lease")
		every := cfg.Lease / 4
		wasValid := true
		for {
			sent := time.Now()
			rctx, cancel := context.WithTimeout(ctx, every)
			err := w.renewLease(rctx, cfg.Name)
			cancel()
			if err == nil {
				holder.h.Renewed(sent)
			}
			valid := holder.valid()
			if valid != wasValid {
				if valid {
					log.Info("fencing lease renewed: StatefulSet pods may run here again")
				} else {
					log.Warn("fencing lease expired: stopping StatefulSet pods on this node", "err", err)
				}
				wasValid = valid
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	})
	return holder
}
