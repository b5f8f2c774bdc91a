package gossip

import (
	"net"
	"slices"
	"sync"
	"time"
)

const (
	// watchFanout bounds the pings per probe interval, so the watcher's
	// cost stays O(n) per node like SWIM's however large the cluster.
	watchFanout = 3
	// suspectAfter consecutive failed pings make a member suspect: one lost
	// UDP packet must not flip a node to NotReady.
	suspectAfter = 2
)

// watch is the suspect detector (see the package comment) and prunes
// tombstones.
func (g *Gossip) watch() {
	defer g.wg.Done()
	t := time.NewTicker(g.probeEvery)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.pruneTombstones()
		targets := g.pickTargets()
		var wg sync.WaitGroup
		for _, tg := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := g.ml.Ping(tg.name, tg.addr)
				g.pinged(tg.name, err == nil)
			}()
		}
		wg.Wait()
	}
}

type target struct {
	name string
	addr *net.UDPAddr
}

// pickTargets returns up to watchFanout live peers, round-robin over the
// sorted names so every peer is checked every ceil((n-1)/fanout) intervals.
func (g *Gossip) pickTargets() []target {
	g.mu.Lock()
	defer g.mu.Unlock()
	var names []string
	for name, m := range g.members {
		if name != g.cfg.NodeName && (m.State == StateAlive || m.State == StateSuspect) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	k := min(watchFanout, len(names))
	out := make([]target, 0, k)
	for i := range k {
		m := g.members[names[(g.rr+i)%len(names)]]
		out = append(out, target{m.Name, &net.UDPAddr{IP: m.ip, Port: int(m.port)}})
	}
	g.rr = (g.rr + k) % len(names)
	return out
}

// pinged records a watcher ping's outcome.
func (g *Gossip) pinged(name string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[name]
	if m == nil || (m.State != StateAlive && m.State != StateSuspect) {
		return // memberlist's dead/left verdict came meanwhile and wins
	}
	if ok {
		if m.State == StateSuspect {
			g.setState(m, StateAlive, EventAlive)
			g.log.Info("member answers again", "peer", name)
		}
		m.fails = 0
		return
	}
	m.fails++
	if m.fails >= suspectAfter && m.State == StateAlive {
		g.setState(m, StateSuspect, EventSuspect)
		g.log.Warn("member suspect: not answering pings", "peer", name)
	}
}

// pruneTombstones forgets members dead or left for longer than Tombstone,
// and leave intents as old.
func (g *Gossip) pruneTombstones() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, at := range g.leaving {
		if time.Since(at) > g.cfg.Tombstone {
			delete(g.leaving, name)
		}
	}
	for name, m := range g.members {
		if (m.State == StateDead || m.State == StateLeft) && time.Since(m.StateSince) > g.cfg.Tombstone {
			delete(g.members, name)
		}
	}
}
