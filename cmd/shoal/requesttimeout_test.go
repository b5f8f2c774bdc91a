package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestParseRequestTimeout(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "30s", want: 30 * time.Second},
		{in: "2m", want: 2 * time.Minute},
		{in: "5", want: 5 * time.Second},
		{in: "-1s", wantErr: "0 (no timeout) or more"},
		{in: "soon", wantErr: "expected a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRequestTimeout(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--request-timeout") {
					t.Fatalf("parseRequestTimeout(%q) = %v, %v; want an error naming the flag and %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseRequestTimeout(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestRequestTimeoutBoundsTheCommand: --request-timeout gives the verb a
// context with that deadline, and its client sends it with writes; without
// the flag neither.
func TestRequestTimeoutBoundsTheCommand(t *testing.T) {
	for _, tt := range []struct {
		flag     string
		deadline bool
	}{
		{"1m", true},
		{"0", false},
	} {
		g := &globals{requestTimeout: tt.flag}
		cmd := &cobra.Command{}
		cmd.SetContext(context.Background())
		if err := g.withRequestTimeout(cmd); err != nil {
			t.Fatal(err)
		}
		d, ok := cmd.Context().Deadline()
		if ok != tt.deadline || g.client().SendDeadline != tt.deadline {
			t.Errorf("--request-timeout %s: deadline %v (%v), client sends it %v; want %v", tt.flag, ok, d, g.client().SendDeadline, tt.deadline)
		}
		if ok && time.Until(d) > time.Minute {
			t.Errorf("--request-timeout %s: deadline %v from now", tt.flag, time.Until(d))
		}
	}
}
