package gossipsim

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// memNet is an in-process network for memberlist, so that the sim can run
// more members than two cores can carry over loopback sockets: an idle
// member's kernel work (a UDP read and write per packet, netpoll) and the
// 64 KiB buffer memberlist's UDP listener allocates for every packet are
// most of its cost there. Everything above the transport is the agents'
// own: memberlist's probes, suspicions, gossip and push/pull, encrypted
// with the cluster key, through package gossip.
//
// Packets behave as UDP's do: a send never waits, and a packet to a
// member that is down, or whose queue is full, is lost without an error.
// Streams (push/pull) are net.Pipe pairs, refused by a member that is down.
//
// memberlist's own MockNetwork does not do for this: its sends block until
// the receiver reads, so a crashed member would hang every member that
// pings it.
type memNet struct {
	mu     sync.RWMutex
	byAddr map[string]*memTransport
	port   int

	lost atomic.Int64 // packets dropped on a full queue
}

// memQueue is a member's packet queue. A member's packet listener only
// hands packets on to memberlist's handler queue, so this holds a burst,
// not a backlog.
const memQueue = 256

// transport returns a new member's transport, at 127.0.0.1 and a port no
// other member of n has (no socket is opened).
func (n *memNet) transport() *memTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr == nil {
		n.byAddr = map[string]*memTransport{}
	}
	n.port++
	t := &memTransport{
		net:     n,
		addr:    &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: n.port},
		packets: make(chan *memberlist.Packet, memQueue),
		streams: make(chan net.Conn),
		down:    make(chan struct{}),
	}
	n.byAddr[t.addr.String()] = t
	return t
}

func (n *memNet) peer(addr string) (*memTransport, error) {
	n.mu.RLock()
	t := n.byAddr[addr]
	n.mu.RUnlock()
	if t == nil {
		return nil, fmt.Errorf("memnet: no member at %s", addr)
	}
	return t, nil
}

// memTransport is one member's end of a memNet.
type memTransport struct {
	net     *memNet
	addr    *net.UDPAddr
	packets chan *memberlist.Packet
	streams chan net.Conn
	down    chan struct{}
	once    sync.Once
}

var _ memberlist.NodeAwareTransport = (*memTransport)(nil)

func (t *memTransport) isDown() bool {
	select {
	case <-t.down:
		return true
	default:
		return false
	}
}

func (t *memTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.addr.IP, t.addr.Port, nil
}

func (t *memTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *memTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	dest, err := t.net.peer(a.Addr)
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	if dest.isDown() {
		return now, nil // a datagram to a dead host is sent, and lost
	}
	// memberlist may reuse b once the write returns, as a socket allows.
	p := &memberlist.Packet{Buf: bytes.Clone(b), From: t.addr, Timestamp: now}
	select {
	case dest.packets <- p:
	default:
		t.net.lost.Add(1)
	}
	return now, nil
}

func (t *memTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// IngestPacket takes a packet that arrived over a stream (memberlist's
// relay of packets through a TCP connection).
func (t *memTransport) IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	if shouldClose {
		defer conn.Close()
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Errorf("memnet: read a packet from %s: %w", addr, err)
	}
	if len(b) == 0 {
		return fmt.Errorf("memnet: empty packet from %s", addr)
	}
	select {
	case t.packets <- &memberlist.Packet{Buf: b, From: addr, Timestamp: now}:
		return nil
	case <-t.down:
		return fmt.Errorf("memnet: %s is down", t.addr)
	}
}

func (t *memTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to a, as a TCP connect would: refused
// by a member that is down, timed out if it does not accept in time.
func (t *memTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	dest, err := t.net.peer(a.Addr)
	if err != nil {
		return nil, err
	}
	local, remote := net.Pipe()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case dest.streams <- remote:
		return local, nil
	case <-dest.down:
		return nil, fmt.Errorf("memnet: dial %s: connection refused", a.Addr)
	case <-timer.C:
		return nil, fmt.Errorf("memnet: dial %s: timed out after %v", a.Addr, timeout)
	}
}

func (t *memTransport) StreamCh() <-chan net.Conn { return t.streams }

func (t *memTransport) IngestStream(conn net.Conn) error {
	select {
	case t.streams <- conn:
		return nil
	case <-t.down:
		conn.Close()
		return fmt.Errorf("memnet: %s is down", t.addr)
	}
}

// Shutdown takes the member off the network: what is sent to it from now
// on is lost, and dials to it are refused.
func (t *memTransport) Shutdown() error {
	t.once.Do(func() { close(t.down) })
	return nil
}
