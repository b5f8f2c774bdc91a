package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"shoal/cluster"
	"shoal/consensus"
)

type sweepStore struct {
	st       *cluster.State
	caughtUp bool
}

func (s *sweepStore) State() *cluster.State    { return s.st }
func (s *sweepStore) Changed() <-chan struct{} { return make(chan struct{}) }
func (s *sweepStore) CaughtUp() bool           { return s.caughtUp }

func TestClaimSweep(t *testing.T) {
	tests := []struct {
		name     string
		loc      cluster.ClaimLocation
		caughtUp bool
		deleted  bool
	}{
		{"released here", cluster.ClaimLocation{Namespace: "default", Claim: "data", Node: "a", Released: true}, true, true},
		{"released here, state not caught up", cluster.ClaimLocation{Namespace: "default", Claim: "data", Node: "a", Released: true}, false, false},
		{"released elsewhere", cluster.ClaimLocation{Namespace: "default", Claim: "data", Node: "b", Released: true}, true, false},
		{"bound here", cluster.ClaimLocation{Namespace: "default", Claim: "data", Node: "a"}, true, false},
		{"path trick", cluster.ClaimLocation{Namespace: "..", Claim: "data", Node: "a", Released: true}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "volumes", "default", "pvc_data")
			if err := os.MkdirAll(data, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(data, "f"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			tx := cluster.Empty().Txn(5)
			loc := tt.loc
			tx.PutClaimLocation(&loc)
			var sent *consensus.ForgetClaims
			sw := &claimSweeper{node: "a", volumesDir: filepath.Join(dir, "volumes"),
				store:  &sweepStore{st: tx.Commit(), caughtUp: tt.caughtUp},
				forget: func(_ context.Context, c *consensus.ForgetClaims) error { sent = c; return nil },
				log:    slog.New(slog.NewTextHandler(io.Discard, nil))}
			sw.sweep(context.Background())
			_, err := os.Stat(data)
			if gone := os.IsNotExist(err); gone != tt.deleted {
				t.Fatalf("data deleted: %t, want %t", gone, tt.deleted)
			}
			if (sent != nil) != tt.deleted {
				t.Fatalf("forget sent: %+v", sent)
			}
			if sent != nil && (sent.Node != "a" || len(sent.Claims) != 1 || sent.Claims[0].ModifyIndex != 5) {
				t.Errorf("forget %+v", sent)
			}
		})
	}
}
