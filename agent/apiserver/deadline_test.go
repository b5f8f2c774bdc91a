package apiserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
)

// TestLateWriteRefused: a write that reaches the agent after the deadline
// it carries is refused with 408 and changes nothing; reads, and writes
// in time or without a deadline, go through.
func TestLateWriteRefused(t *testing.T) {
	now := time.Now().UTC()
	tests := []struct {
		name, method, deadline string
		code                   int
		msg                    string
		cordoned               bool
	}{
		{name: "no deadline", method: "POST", code: 200, cordoned: true},
		{name: "in time", method: "POST", deadline: now.Add(time.Minute).Format(time.RFC3339Nano), code: 200, cordoned: true},
		{name: "late", method: "POST", deadline: now.Add(-2 * time.Second).Format(time.RFC3339Nano), code: 408, msg: "after its deadline"},
		{name: "not a time", method: "POST", deadline: "in a minute", code: 400, msg: "not an RFC 3339 time"},
		{name: "late read", method: "GET", deadline: now.Add(-time.Hour).Format(time.RFC3339Nano), code: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, store := newTestAPI(t)
			path := "/nodes/n1/cordon"
			if tt.method == "GET" {
				path = "/nodes"
			}
			req, err := http.NewRequest(tt.method, "https://"+c.Addr+api.PathPrefix+path, http.NoBody)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+c.Token)
			if tt.deadline != "" {
				req.Header.Set(api.DeadlineHeader, tt.deadline)
			}
			resp, err := c.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.msg) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, b, tt.code, tt.msg)
			}
			n, _ := store.State().Node("n1")
			if tt.method == "POST" && n.Unschedulable != tt.cordoned {
				t.Errorf("node cordoned: %v, want %v", n.Unschedulable, tt.cordoned)
			}
		})
	}
}

// TestForwardDeadline: a forwarded write carries the caller's deadline
// or the hop's, whichever comes first.
func TestForwardDeadline(t *testing.T) {
	now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	hop := now.Add(forwardedWriteDeadline)
	tests := []struct {
		name, header string
		want         time.Time
	}{
		{"no caller deadline", "", hop},
		{"the caller's, sooner", now.Add(3 * time.Second).Format(time.RFC3339Nano), now.Add(3 * time.Second)},
		{"the hop's, sooner", now.Add(time.Hour).Format(time.RFC3339Nano), hop},
		{"the caller's in another zone", now.Add(time.Second).In(time.FixedZone("x", 3600)).Format(time.RFC3339Nano), now.Add(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := forwardDeadline(tt.header, now); !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("forwardDeadline(%q) = %v, want %v in UTC", tt.header, got, tt.want)
			}
		})
	}
}

// TestForwardedWriteRefusedWhenLate: a follower forwards a write to the
// leader with the hop's deadline; one that reaches the leader after it
// (here the hop's allowance is negative: every forward is late) is
// refused there and not applied, and the caller learns why. With the
// usual allowance the same write is applied.
func TestForwardedWriteRefusedWhenLate(t *testing.T) {
	_, leader, leaderID, c := forwardingPair(t, Config{}, "")

	forwardAllowance.Store(int64(-time.Second))
	err := c.NodeAction(context.Background(), leaderID, "cordon")
	forwardAllowance.Store(int64(forwardedWriteDeadline))
	var se *apiclient.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusRequestTimeout || !strings.Contains(se.Message, "after its deadline") {
		t.Fatalf("a write forwarded late: %v, want a 408 saying it came after its deadline", err)
	}
	if n, _ := leader.State().Node(leaderID); n.Unschedulable {
		t.Fatal("the late forwarded write was applied")
	}

	if err := c.NodeAction(context.Background(), leaderID, "cordon"); err != nil {
		t.Fatalf("a write forwarded in time: %v", err)
	}
	if n, _ := leader.State().Node(leaderID); !n.Unschedulable {
		t.Fatal("the forwarded write was not applied")
	}
}

// TestClientSendsItsDeadline: a client told to send its context's
// deadline sends it with writes (the agent refuses them once it has
// passed), not with reads; one not told to sends none.
func TestClientSendsItsDeadline(t *testing.T) {
	c, store := newTestAPI(t)
	c.SendDeadline = true
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	defer cancel()
	if err := c.NodeAction(ctx, "n1", "cordon"); err != nil {
		t.Fatalf("a write before its deadline: %v", err)
	}
	if _, err := c.Nodes(ctx); err != nil {
		t.Fatalf("a read: %v", err)
	}
	// A deadline that has passed by the time the agent reads it: the
	// client's context is not done yet when the request leaves, but the
	// header already says it is late.
	late, cancelLate := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancelLate()
	err := c.NodeAction(detached{late}, "n1", "uncordon")
	var se *apiclient.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusRequestTimeout {
		t.Fatalf("a write sent after its deadline: %v, want 408", err)
	}
	if n, _ := store.State().Node("n1"); !n.Unschedulable {
		t.Fatal("the late uncordon was applied")
	}
	c.SendDeadline = false
	if err := c.NodeAction(detached{late}, "n1", "uncordon"); err != nil {
		t.Fatalf("a client that sends no deadline: %v", err)
	}
}

// detached keeps a context's deadline but not its cancellation, so that
// a request can leave after the deadline passed.
type detached struct{ context.Context }

func (d detached) Done() <-chan struct{} { return nil }
func (d detached) Err() error            { return nil }
