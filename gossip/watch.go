package gossip

import (
	"net"
	"slices"
	"sync"
	"time"
)

const (
	// watchFanout bounds the pings per probe interval, so a node's watcher
	// costs the same however large the cluster, as SWIM's probes do.
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
	n := len(g.order)
	start, found := slices.BinarySearch(g.order, g.last)
	if found {
		start++
	}
	var out []target
	// Dead and left members stay in order until their tombstones go, so
	// the walk may pass some; it stops after one lap, so a name is picked
	// once at most.
	for i := 0; i < n && len(out) < watchFanout; i++ {
		name := g.order[(start+i)%n]
		m := g.members[name]
		if m.State != StateAlive && m.State != StateSuspect {
			continue
		}
		out = append(out, target{m.Name, &net.UDPAddr{IP: m.ip, Port: int(m.port)}})
		g.last = name
	}
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
// and leave intents as old. It sweeps at most ten times a Tombstone: a
// tombstone lives up to 1.1 times it, and a tick does not scan every
// member.
func (g *Gossip) pruneTombstones() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.prunedAt) < g.cfg.Tombstone/10 {
		return
	}
	g.prunedAt = time.Now()
	for name, at := range g.leaving {
		if time.Since(at) > g.cfg.Tombstone {
			delete(g.leaving, name)
		}
	}
	for name, m := range g.members {
		if (m.State == StateDead || m.State == StateLeft) && time.Since(m.StateSince) > g.cfg.Tombstone {
			delete(g.members, name)
			if i, ok := slices.BinarySearch(g.order, name); ok {
				g.order = slices.Delete(g.order, i, i+1)
			}
		}
	}
}
