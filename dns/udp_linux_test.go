//go:build linux

package dns

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// TestSteerUDPSpreadsOneClient checks that a steered SO_REUSEPORT group
// spreads even a single client over its sockets: hashing by the client's
// address and port would put all of its datagrams on one.
func TestSteerUDPSpreadsOneClient(t *testing.T) {
	ctx := context.Background()
	first, err := listenUDP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pcs, err := moreUDP(ctx, first, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, pc := range pcs {
			_ = pc.Close()
		}
	}()
	if err := steerUDP(pcs); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", first.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Few enough to fit every socket's receive buffer; with 3 sockets
	// chosen at random, one left empty has odds of about 3·(2/3)^60.
	const n = 60
	for i := range n {
		if _, err := conn.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	counts := make([]int, len(pcs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	total := 0
	// The deadline ends the reads once all came in (it is moved to now
	// then) or, much later, when some datagram was lost.
	for _, pc := range pcs {
		_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	for i, pc := range pcs {
		wg.Go(func() {
			buf := make([]byte, 16)
			for {
				if _, _, err := pc.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
				mu.Lock()
				counts[i]++
				total++
				if total == n {
					for _, c := range pcs {
						_ = c.SetReadDeadline(time.Now())
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if total != n {
		t.Fatalf("received %d of %d datagrams: %v", total, n, counts)
	}
	for i, c := range counts {
		if c == 0 {
			t.Errorf("socket %d got none of %d datagrams from one client: %v", i, n, counts)
		}
	}
}
