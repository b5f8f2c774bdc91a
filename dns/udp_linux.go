//go:build linux

package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// reusePort: each reader has its own socket (see udp.go).
const reusePort = true

// maxUDPReaders bounds the sockets per address: past a few cores the
// agent has better uses for them than DNS.
const maxUDPReaders = 8

const (
	// udpBatch is how many datagrams one recvmmsg or sendmmsg moves.
	udpBatch = 16
	// udpSlot is the largest query read whole. Queries are a few dozen
	// bytes; a longer datagram is cut and answered FORMERR.
	udpSlot = 4096
	// sockaddrLen is the size of struct sockaddr_in6, which also holds a
	// sockaddr_in.
	sockaddrLen = unix.SizeofSockaddrInet6
)

// errTruncatedQuery: a datagram longer than udpSlot.
var errTruncatedQuery = errors.New("query longer than the read buffer")

func reusePortControl(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// steerUDP makes the kernel hand each datagram to a random one of pcs, a
// SO_REUSEPORT group, instead of hashing the client's address and port:
// with a hash a few busy clients (dnsperf's -c 8, a node's few resolvers)
// land unevenly, often most of them on one socket, whose reader then works
// while the others idle, and how unevenly changes with every new client
// port. The program is attached to one socket and serves the group; a
// kernel without it (before 4.6) keeps hashing.
func steerUDP(pcs []*net.UDPConn) error {
	if len(pcs) < 2 {
		return nil
	}
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtRand},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(len(pcs))},
		bpf.RetA{}, // the index of the socket in the group, in bind order
	})
	if err != nil {
		return fmt.Errorf("steer udp: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	rc, err := pcs[0].SyscallConn()
	if err != nil {
		return fmt.Errorf("steer udp: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &prog)
	}); err != nil {
		return fmt.Errorf("steer udp: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("steer udp: attach reuseport program: %w", serr)
	}
	return nil
}

// mmsghdr is struct mmsghdr: Go pads it to the C layout on 32- and
// 64-bit platforms alike.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpReader is one socket's reader with every buffer it needs, allocated
// once: reading, answering on the fast path and writing allocate nothing.
// x/net's ipv4.PacketConn.ReadBatch would do the same syscalls but
// allocates a net.UDPAddr per datagram.
type udpReader struct {
	s     *Server
	pc    *net.UDPConn
	rc    syscall.RawConn
	in    [udpBatch]mmsghdr
	inIov [udpBatch]unix.Iovec
	names [udpBatch][sockaddrLen]byte
	bufs  [udpBatch][udpSlot]byte

	out     [udpBatch]mmsghdr
	outIov  [udpBatch]unix.Iovec
	outBufs [udpBatch][EDNSSize]byte
	sc      fastScratch

	// Results of the syscalls made in recv and send.
	got, sent, toSend int
	err               error
	recv, send        func(fd uintptr) bool
}

func newUDPReader(s *Server, pc *net.UDPConn) (*udpReader, error) {
	rc, err := pc.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &udpReader{s: s, pc: pc, rc: rc}
	for i := range r.in {
		r.inIov[i].Base = &r.bufs[i][0]
		r.inIov[i].SetLen(udpSlot)
		r.in[i].hdr.Iov = &r.inIov[i]
		r.in[i].hdr.SetIovlen(1)
		r.in[i].hdr.Name = &r.names[i][0]
		r.out[i].hdr.Iov = &r.outIov[i]
		r.out[i].hdr.SetIovlen(1)
	}
	// The method values are made once: made per call they would allocate.
	r.recv, r.send = r.recvmmsg, r.sendmmsg
	return r, nil
}

// serveUDP reads queries from pc in batches until it is closed, answers
// them, and writes the fast path's answers in one batch.
func (s *Server) serveUDP(pc *net.UDPConn) {
	defer s.done.Done()
	r, err := newUDPReader(s, pc)
	if err != nil {
		s.log.Error("udp reader", "err", err)
		return
	}
	for {
		if err := r.rc.Read(r.recv); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("read udp", "err", err)
			continue
		}
		if r.err != nil {
			// Transient (an ICMP error surfacing): keep serving.
			s.log.Debug("read udp", "err", r.err)
			continue
		}
		start := time.Now()
		r.toSend, r.sent = 0, 0
		for i := range r.got {
			r.handle(i, start)
		}
		if r.toSend == 0 {
			continue
		}
		if err := r.rc.Write(r.send); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("write udp", "err", err)
		}
		d := time.Since(start).Seconds()
		for range r.toSend {
			s.metrics.duration.Observe(d)
		}
	}
}

// handle answers datagram i of the batch, queueing a fast-path answer for
// the batched write.
func (r *udpReader) handle(i int, start time.Time) {
	b := r.bufs[i][:r.in[i].n]
	from := sockaddrAddrPort(r.names[i][:r.in[i].hdr.Namelen])
	if r.in[i].hdr.Flags&unix.MSG_TRUNC != 0 {
		r.s.malformed(r.pc, b, from, errTruncatedQuery)
		return
	}
	k := r.toSend
	resp := r.s.datagram(r.pc, b, from, r.outBufs[k][:0], &r.sc, start)
	if resp == nil {
		return
	}
	// answerFast never answers more than EDNSSize bytes, so resp is
	// outBufs[k]: the iovec points there.
	r.outIov[k].Base = &r.outBufs[k][0]
	r.outIov[k].SetLen(len(resp))
	r.out[k].hdr.Name = &r.names[i][0]
	r.out[k].hdr.Namelen = r.in[i].hdr.Namelen
	r.toSend++
}

// recvmmsg reads a batch into r.in, for RawConn.Read: false asks it to
// wait until the socket is readable.
func (r *udpReader) recvmmsg(fd uintptr) bool {
	for i := range r.in {
		r.in[i].hdr.Namelen = sockaddrLen
		r.in[i].hdr.Flags = 0
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.in[0])), udpBatch, 0, 0, 0)
		switch errno {
		case 0:
			r.got, r.err = int(n), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.got, r.err = 0, errno
			return true
		}
	}
}

// sendmmsg writes r.out[r.sent:r.toSend], for RawConn.Write. A datagram
// the kernel refuses (an unreachable client) is skipped.
func (r *udpReader) sendmmsg(fd uintptr) bool {
	for r.sent < r.toSend {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&r.out[r.sent])), uintptr(r.toSend-r.sent), 0, 0, 0)
		switch errno {
		case 0:
			r.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			r.s.log.Debug("write udp", "err", errno)
			r.sent++
		}
	}
	return true
}

// sockaddrAddrPort decodes a struct sockaddr_in or sockaddr_in6.
func sockaddrAddrPort(sa []byte) netip.AddrPort {
	if len(sa) < 4 {
		return netip.AddrPort{}
	}
	port := binary.BigEndian.Uint16(sa[2:])
	switch binary.NativeEndian.Uint16(sa) {
	case unix.AF_INET:
		if len(sa) >= unix.SizeofSockaddrInet4 {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port)
		}
	case unix.AF_INET6:
		if len(sa) >= unix.SizeofSockaddrInet6 {
			a := netip.AddrFrom16([16]byte(sa[8:24]))
			if zone := binary.NativeEndian.Uint32(sa[24:]); zone != 0 {
				// The net package takes an interface index as a zone.
				a = a.WithZone(strconv.FormatUint(uint64(zone), 10))
			}
			return netip.AddrPortFrom(a, port)
		}
	}
	return netip.AddrPort{}
}
