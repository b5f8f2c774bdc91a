//go:build !linux

package dns

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// reusePort: several readers share one socket (see udp.go).
const reusePort = false

// maxUDPReaders bounds the readers per address.
const maxUDPReaders = 4

// reusePortControl: sockets are not shared here.
var reusePortControl func(network, address string, c syscall.RawConn) error

// steerUDP: there is one socket per address here.
func steerUDP([]*net.UDPConn) error { return nil }

// serveUDP reads queries from pc one at a time until it is closed.
func (s *Server) serveUDP(pc *net.UDPConn) {
	defer s.done.Done()
	buf := make([]byte, dns.MaxMsgSize)
	out := make([]byte, 0, EDNSSize)
	var sc fastScratch
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (an ICMP error surfacing, a signal): keep serving.
			s.log.Debug("read udp", "err", err)
			continue
		}
		start := time.Now()
		if resp := s.datagram(pc, buf[:n], from, out[:0], &sc, start); resp != nil {
			if _, err := pc.WriteToUDPAddrPort(resp, from); err != nil {
				s.log.Debug("write udp", "err", err)
			}
			s.metrics.duration.Observe(time.Since(start).Seconds())
		}
	}
}
