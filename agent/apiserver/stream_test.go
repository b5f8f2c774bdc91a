package apiserver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"shoal/agent/api"
)

// TestStreamViewOfItsOwnNode: a node may follow its own node's view of
// the state, not another node's.
func TestStreamViewOfItsOwnNode(t *testing.T) {
	tc := newTestCluster(t, Config{})
	_, addr := tc.serve(t, Config{Stream: tc.store})
	tests := []struct {
		caller, view string
		want         int
	}{
		{"n2", "n2", http.StatusOK},
		{"n2", "n3", http.StatusForbidden},
		{"n2", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.caller+" view "+tt.view, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			u := "https://" + addr + api.PathPrefix + "/internal/stream?index=0"
			if tt.view != "" {
				u += "&view=" + tt.view
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tc.node(t, tt.caller).HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
