package gossipsim

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestMemNetBehavesLikeSockets checks the in-process network keeps the
// semantics memberlist relies on from UDP and TCP: a datagram is delivered
// as sent (a copy), never blocks the sender, and is lost, without an
// error, when its receiver is down or its queue is full; a dial to a
// member that is down is refused.
func TestMemNetBehavesLikeSockets(t *testing.T) {
	var n memNet
	a, b := n.transport(), n.transport()
	ip, port, err := b.FinalAdvertiseAddr("", 0)
	if err != nil || !ip.IsLoopback() || port == 0 {
		t.Fatalf("b advertises %v:%d, %v", ip, port, err)
	}
	if ap, _, _ := a.FinalAdvertiseAddr("", 0); ap.String() == ip.String() && a.addr.Port == port {
		t.Fatal("two members share an address")
	}
	to := b.addr.String()

	msg := []byte("ping")
	if _, err := a.WriteTo(msg, to); err != nil {
		t.Fatal(err)
	}
	msg[0] = 'X' // the sender reuses its buffer, as memberlist may
	select {
	case p := <-b.PacketCh():
		if string(p.Buf) != "ping" || p.From.String() != a.addr.String() {
			t.Fatalf("b got %q from %v, want \"ping\" from %v", p.Buf, p.From, a.addr)
		}
	case <-time.After(time.Second):
		t.Fatal("b got nothing")
	}

	// Nobody reads b's queue: once it is full, sends are lost, not blocked.
	for range memQueue + 10 {
		if _, err := a.WriteTo([]byte("x"), to); err != nil {
			t.Fatal(err)
		}
	}
	if lost := n.lost.Load(); lost != 10 {
		t.Fatalf("lost %d packets on a full queue, want 10", lost)
	}

	if _, err := a.WriteTo([]byte("x"), "127.0.0.1:9"); err == nil {
		t.Fatal("a send to an address no member has: want an error")
	}

	// A stream: what one end writes the other reads.
	go func() {
		c := <-b.StreamCh()
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()
	c, err := a.DialAddressTimeout(memberlist.Address{Addr: to}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("push")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, []byte("push")) {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()

	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	lost := n.lost.Load()
	if _, err := a.WriteTo([]byte("x"), to); err != nil {
		t.Fatalf("a datagram to a member that is down: %v, want it sent and lost", err)
	}
	if n.lost.Load() != lost {
		t.Fatal("a packet to a member that is down counted as lost to a full queue")
	}
	if _, err := a.DialTimeout(to, time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial a member that is down: %v, want refused", err)
	}
}
