package statesim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"shoal/consensus"
	"shoal/sim/cpulabel"
)

// countConn counts what is written to a connection.
type countConn struct {
	net.Conn
	sent *atomic.Uint64
}

func (c countConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.sent.Add(uint64(n))
	return n, err
}

// countLayer is raft's TCP stream layer (plain TCP, as
// raft.NewTCPTransport) with every byte sent counted, both on the
// connections this member dials and on those it accepts (a follower's
// answers).
type countLayer struct {
	net.Listener
	sent *atomic.Uint64
}

func (l countLayer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countConn{c, l.sent}, nil
}

func (l countLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	return countConn{c, l.sent}, nil
}

// member is one Raft member over TCP loopback with its state stream
// server, and what both sent.
type member struct {
	id    string
	store *consensus.Store
	trans *raft.NetworkTransport
	// stream serves the state stream: raw TCP, the follower sends its index
	// as 8 big-endian bytes, then reads ServeStream's frames.
	stream net.Listener
	served sync.WaitGroup
	cancel context.CancelFunc

	raftSent, streamSent atomic.Uint64
	killed               atomic.Bool
}

func (m *member) sent() uint64 { return m.raftSent.Load() + m.streamSent.Load() }

// openMember opens one member: the real Store with its bolt log and file
// snapshots under dir, on a counted TCP transport, with the agent's
// default Raft timings.
func openMember(id, dir string, bootstrap bool, log *slog.Logger, fn func(*consensus.Config)) (*member, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for raft of %s: %w", id, err)
	}
	m := &member{id: id}
	cpulabel.Do(roleLabel, id, func() {
		m.trans = raft.NewNetworkTransport(countLayer{ln, &m.raftSent}, 3, 10*time.Second, io.Discard)
		cfg := consensus.Config{
			NodeID: id, DataDir: filepath.Join(dir, id), Bootstrap: bootstrap,
			Transport: m.trans, Logger: log.With("member", id),
		}
		if fn != nil {
			fn(&cfg)
		}
		m.store, err = consensus.Open(cfg)
	})
	if err != nil {
		_ = m.trans.Close()
		return nil, fmt.Errorf("open member %s: %w", id, err)
	}
	return m, nil
}

// serve starts the member's stream server on loopback.
func (m *member) serve() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the stream of %s: %w", m.id, err)
	}
	m.stream = ln
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.served.Add(1)
	cpulabel.Do(roleLabel, m.id, func() { go m.accept(ctx, ln) })
	return nil
}

func (m *member) accept(ctx context.Context, ln net.Listener) {
	defer m.served.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		m.served.Add(1)
		go func() {
			defer m.served.Done()
			m.serveConn(ctx, c)
		}()
	}
}

// writeBound is how long one write to a follower may take before its
// stream is cut (ServeStream leaves bounding writes to its caller).
const writeBound = 10 * time.Second

type boundedWriter struct {
	c    net.Conn
	sent *atomic.Uint64
}

func (w boundedWriter) Write(b []byte) (int, error) {
	_ = w.c.SetWriteDeadline(time.Now().Add(writeBound))
	n, err := w.c.Write(b)
	w.sent.Add(uint64(n))
	return n, err
}

func (m *member) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	var hdr [9]byte
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	node := make([]byte, hdr[8])
	if _, err := io.ReadFull(c, node); err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	// Closing the follower's side ends the stream: the follower sends
	// nothing more, so a read returns only then.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = c.Read(make([]byte, 1))
		cancel()
	}()
	since, w := binary.BigEndian.Uint64(hdr[:8]), boundedWriter{c, &m.streamSent}
	if len(node) > 0 {
		_ = m.store.ServeView(sctx, since, string(node), w, nil)
		return
	}
	_ = m.store.ServeStream(sctx, since, w, nil)
}

// kill stops the member as a crash would for its peers and followers:
// Raft shuts down without handing leadership over, and its transports and
// streams close.
func (m *member) kill() error {
	if !m.killed.CompareAndSwap(false, true) {
		return nil
	}
	var err error
	if m.cancel != nil {
		m.cancel()
		err = m.stream.Close()
	}
	err = errors.Join(err, m.store.Close(), m.trans.Close())
	m.served.Wait()
	return err
}

// raftCluster is the Raft members: voters first, then the replicas.
type raftCluster struct {
	members []*member
}

// openCluster opens voters + replicas members under dir: member 0
// bootstraps and the others are added to it.
func openCluster(ctx context.Context, dir string, voters, replicas int, log *slog.Logger) (*raftCluster, error) {
	c := &raftCluster{}
	for i := range voters + replicas {
		m, err := openMember("m"+strconv.Itoa(i), dir, i == 0, log, nil)
		if err != nil {
			c.close()
			return nil, err
		}
		c.members = append(c.members, m)
	}
	first := c.members[0]
	if err := waitUntil(ctx, "m0 leads", first.store.IsLeader); err != nil {
		c.close()
		return nil, err
	}
	for i, m := range c.members[1:] {
		var err error
		if i+1 < voters {
			err = first.store.AddVoter(ctx, m.id, m.store.LocalAddr())
		} else {
			err = first.store.AddNonvoter(ctx, m.id, m.store.LocalAddr())
		}
		if err != nil {
			c.close()
			return nil, fmt.Errorf("add member %s: %w", m.id, err)
		}
	}
	for _, m := range c.members {
		if err := waitUntil(ctx, m.id+" is live in raft", m.store.RaftLive); err != nil {
			c.close()
			return nil, err
		}
		if err := m.serve(); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// leader returns the live member that leads, nil if none does.
func (c *raftCluster) leader() *member {
	for _, m := range c.members {
		if !m.killed.Load() && m.store.IsLeader() {
			return m
		}
	}
	return nil
}

// servingAddrs are the stream addresses followers use: every live member
// but the leader, as the agent prefers (the leader alone if it is the only
// one).
func (c *raftCluster) servingAddrs() []string {
	l := c.leader()
	var out []string
	for _, m := range c.members {
		if m != l && !m.killed.Load() {
			out = append(out, m.stream.Addr().String())
		}
	}
	if len(out) == 0 && l != nil {
		out = append(out, l.stream.Addr().String())
	}
	return out
}

func (c *raftCluster) sent() (leader, all, stream uint64) {
	l := c.leader()
	for _, m := range c.members {
		all += m.sent()
		stream += m.streamSent.Load()
		if m == l {
			leader = m.sent()
		}
	}
	return leader, all, stream
}

func (c *raftCluster) close() {
	for _, m := range c.members {
		_ = m.kill() // the run is over; what fails to close goes with the process
	}
}

// waitUntil polls ok until it holds or ctx ends.
func waitUntil(ctx context.Context, what string, ok func() bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait until %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Every goroutine of a member (raft's, its transport's, its stream
// server's) carries the label roleLabel=<member id>, the writer's
// roleLabel=writer (see cpulabel).
const roleLabel = "role"
