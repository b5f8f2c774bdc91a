package agent

import (
	"context"
	"log/slog"
	"time"

	"shoal/gossip"
	"shoal/internal/diskfull"
)

// Node conditions that gossip carries and the API shows beside a node's
// status (Kubernetes' names).
const conditionDiskPressure = "DiskPressure"

// diskWatch looks at the data dir's free space every so often: it keeps
// the guard's ballast in place, and tells the other agents (through
// gossip) and the log when the node enters or leaves DiskPressure. Writes
// are refused by the guard itself, at each apply; this only reports.
type diskWatch struct {
	guard  *diskfull.Guard
	every  time.Duration
	report func(pressure bool)
	log    *slog.Logger
}

func (d *diskWatch) run(ctx context.Context) {
	var was bool
	for first := true; ; first = false {
		err := d.guard.Refresh()
		pressure := diskfull.Is(err)
		if err != nil && !pressure {
			d.log.Warn("keep the data dir's space ballast", "err", err)
		}
		if pressure != was || first {
			d.report(pressure)
			_, u := d.guard.Full()
			switch {
			case pressure:
				d.log.Error("DiskPressure: writes are refused until space is freed", "err", err, "free", u.Free)
			case !first:
				d.log.Info("DiskPressure over: the data dir has room again", "dir", d.guard.Dir(), "free", u.Free)
			}
		}
		was = pressure
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.every):
		}
	}
}

// nodeConditions maps node names to the conditions their gossip meta
// carries (only nodes that have one): live, like gossip, so a node whose
// data dir is full shows it even though nothing can be written.
func nodeConditions(g interface{ Members() []gossip.Member }) map[string][]string {
	out := map[string][]string{}
	for _, m := range g.Members() {
		if m.Meta.DiskPressure {
			out[m.Name] = append(out[m.Name], conditionDiskPressure)
		}
	}
	return out
}
