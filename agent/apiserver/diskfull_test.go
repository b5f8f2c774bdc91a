package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/consensus/consensustest"
	"shoal/internal/diskfull"
)

// shortDisk is a consensus.SpaceGuard a test fills and empties.
type shortDisk struct{ full atomic.Bool }

func (d *shortDisk) Dir() string   { return "/var/lib/shoal" }
func (d *shortDisk) Release() bool { return false }
func (d *shortDisk) Check() error {
	if d.full.Load() {
		return &diskfull.Error{Dir: "/var/lib/shoal", Free: 0, Reserve: 64 << 20}
	}
	return nil
}

// TestDiskPressure: while the data dir is full, writes get 507 with the
// cause, reads are served, and the node's condition shows in the node list
// and the health answer; writes work again once space is back.
func TestDiskPressure(t *testing.T) {
	disk := &shortDisk{}
	store := consensustest.Cluster(t, 1, func(_ int, c *consensus.Config) { c.NodeID, c.Space = "n1", disk })[0]
	conds := map[string][]string{}
	tc := newTestCluster(t, Config{Store: store, NodeName: "n1", NodeConditions: func() map[string][]string { return conds }})
	tc.apply(t, &consensus.PutNode{Node: &cluster.Node{Name: "n1", Status: cluster.NodeReady,
		Capacity: cluster.Resources{MilliCPU: 2000, Memory: 4 << 30}, Allocatable: cluster.Resources{MilliCPU: 2000, Memory: 4 << 30}}})
	c := tc.user(t, "admin")
	ctx := context.Background()

	disk.full.Store(true)
	conds["n1"] = []string{"DiskPressure"}
	_, err := c.Apply(ctx, []api.File{{Name: "web.yaml", Data: deployment}})
	var se *apiclient.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusInsufficientStorage ||
		!strings.Contains(se.Message, "the data dir /var/lib/shoal is full") || !strings.Contains(se.Message, "free space and retry") {
		t.Fatalf("apply on a full data dir: %v; want 507 naming the data dir", err)
	}
	l, err := c.Nodes(ctx)
	if err != nil || len(l.Items) != 1 || strings.Join(l.Items[0].Conditions, ",") != "DiskPressure" {
		t.Fatalf("nodes on a full data dir: %+v %v; want n1 with DiskPressure", l, err)
	}
	if h := health(t, c); h.Status != "degraded" || strings.Join(h.Conditions, ",") != "DiskPressure" {
		t.Errorf("health on a full data dir: %+v", h)
	}

	disk.full.Store(false)
	delete(conds, "n1")
	if _, err := c.Apply(ctx, []api.File{{Name: "web.yaml", Data: deployment}}); err != nil {
		t.Fatalf("apply after space returned: %v", err)
	}
	if h := health(t, c); h.Status != "ok" || len(h.Conditions) != 0 {
		t.Errorf("health after space returned: %+v", h)
	}
}

func health(t *testing.T, c *apiclient.Client) api.Health {
	t.Helper()
	resp, err := c.HTTP.Get("https://" + c.Addr + api.PathPrefix + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h api.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("health: %d %v", resp.StatusCode, err)
	}
	return h
}
