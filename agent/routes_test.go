package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/runtime"
)

func routeState(nodes ...*cluster.Node) *cluster.State {
	tx := cluster.Empty().Txn(1)
	tx.SetConfig(cluster.Config{ClusterCIDR: "10.88.0.0/16"})
	for _, n := range nodes {
		tx.PutNode(n)
	}
	return tx.Commit()
}

func TestPodRoutes(t *testing.T) {
	st := routeState(
		&cluster.Node{Name: "self", Address: "192.168.1.1", PodCIDR: "10.88.0.0/24"},
		&cluster.Node{Name: "c", Address: "192.168.1.3", PodCIDR: "10.88.10.0/24"},
		&cluster.Node{Name: "b", Address: "192.168.1.2", PodCIDR: "10.88.2.0/24", Status: cluster.NodeDown},
		&cluster.Node{Name: "nocidr", Address: "192.168.1.4"},
		&cluster.Node{Name: "noaddr", PodCIDR: "10.88.4.0/24"},
		&cluster.Node{Name: "badaddr", Address: "not-an-ip", PodCIDR: "10.88.5.0/24"},
		&cluster.Node{Name: "withport", Address: "192.168.1.6:7946", PodCIDR: "10.88.6.0/24"},
	)
	got := podRoutes(st, "self")
	// Sorted by address, not text: 10.88.2 before 10.88.10.
	want := []runtime.Route{
		{CIDR: "10.88.2.0/24", Via: "192.168.1.2"},
		{CIDR: "10.88.6.0/24", Via: "192.168.1.6"},
		{CIDR: "10.88.10.0/24", Via: "192.168.1.3"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("podRoutes = %v, want %v", got, want)
	}
	if got := podRoutes(routeState(), "self"); len(got) != 0 {
		t.Errorf("empty state: %v", got)
	}
}

func TestSyncPodRoutesWrapsError(t *testing.T) {
	st := routeState(&cluster.Node{Name: "b", Address: "192.168.1.2", PodCIDR: "10.88.2.0/24"})
	var got []runtime.Route
	boom := errors.New("boom")
	err := syncPodRoutes(context.Background(), st, "a", func(_ context.Context, rs []runtime.Route) error {
		got = rs
		return boom
	})
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Errorf("err = %v, routes = %v", err, got)
	}
}

// fakeRouteSource is a state that changes when set is called.
type fakeRouteSource struct {
	mu sync.Mutex
	st *cluster.State
	ch chan struct{}
}

func (f *fakeRouteSource) State() *cluster.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeRouteSource) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch
}

func (f *fakeRouteSource) set(st *cluster.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = st
	close(f.ch)
	f.ch = make(chan struct{})
}

// The loop syncs on start, skips state changes that leave the routes
// alone, syncs changed ones, and retries a failed sync.
func TestRouteSyncLoop(t *testing.T) {
	b := &cluster.Node{Name: "b", Address: "192.168.1.2", PodCIDR: "10.88.2.0/24"}
	src := &fakeRouteSource{st: routeState(b), ch: make(chan struct{})}
	calls := make(chan []runtime.Route, 10)
	var fail sync.Mutex
	failing := false
	syncFn := func(_ context.Context, rs []runtime.Route) error {
		// Decide the outcome before the test hears of the call: it flips
		// failing as soon as it has, and must not change this call's fate.
		fail.Lock()
		err := error(nil)
		if failing {
			err = errors.New("transient")
		}
		fail.Unlock()
		calls <- rs
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		routeSyncLoop(ctx, src, "a", syncFn, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Hour)
	}()
	defer func() { cancel(); <-done }()
	next := func() []runtime.Route {
		t.Helper()
		select {
		case rs := <-calls:
			return rs
		case <-time.After(30 * time.Second):
			// Generous: the retry waits a 1 s back-off, and a loaded
			// machine running -race may take several more.
			t.Fatal("no sync")
			return nil
		}
	}
	if rs := next(); len(rs) != 1 {
		t.Fatalf("first sync: %v", rs)
	}
	// Same routes (another node without a subnet yet): no sync.
	src.set(routeState(b, &cluster.Node{Name: "c", Address: "192.168.1.3"}))
	select {
	case rs := <-calls:
		t.Fatalf("synced unchanged routes: %v", rs)
	case <-time.After(200 * time.Millisecond):
	}
	// The node got its subnet, and the first try fails: synced, retried.
	fail.Lock()
	failing = true
	fail.Unlock()
	src.set(routeState(b, &cluster.Node{Name: "c", Address: "192.168.1.3", PodCIDR: "10.88.3.0/24"}))
	if rs := next(); len(rs) != 2 {
		t.Fatalf("sync after change: %v", rs)
	}
	fail.Lock()
	failing = false
	fail.Unlock()
	if rs := next(); len(rs) != 2 {
		t.Fatalf("retry: %v", rs)
	}
	// b left: its route goes.
	src.set(routeState(&cluster.Node{Name: "c", Address: "192.168.1.3", PodCIDR: "10.88.3.0/24"}))
	if rs := next(); len(rs) != 1 || rs[0].Via != "192.168.1.3" {
		t.Fatalf("after b left: %v", rs)
	}
}

// servicePorts serves every cluster IP and every node port, to the
// ready pods behind it on any node (named target ports resolved per pod,
// unready pods left out unless the Service publishes them), with the
// Service's affinity and traffic policy.
func TestServicePorts(t *testing.T) {
	txn := cluster.Empty().Txn(1)
	txn.PutService(&cluster.Service{Namespace: "default", Name: "web", Type: cluster.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"},
		ClusterIP: "10.43.0.10", ExternalTrafficPolicy: cluster.ExternalTrafficPolicyLocal,
		Ports: []cluster.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPortName: "http", NodePort: 30080}, {Name: "old", Protocol: "TCP", Port: 81}}})
	txn.PutService(&cluster.Service{Namespace: "default", Name: "db", Type: cluster.ServiceTypeClusterIP, Selector: map[string]string{"app": "web"},
		ClusterIP: "10.43.0.11", SessionAffinity: cluster.SessionAffinityClientIP, PublishNotReadyAddresses: true, Ports: []cluster.ServicePort{{Port: 5432}}})
	txn.PutService(&cluster.Service{Namespace: "default", Name: "headless", ClusterIP: cluster.ClusterIPNone, Selector: map[string]string{"app": "web"},
		Ports: []cluster.ServicePort{{Port: 5432}}})
	for i, node := range []string{"b", "a", "a"} {
		txn.PutPod(&cluster.Pod{Namespace: "default", Name: fmt.Sprintf("web-%d", i), UID: fmt.Sprint(i), Labels: map[string]string{"app": "web"},
			Spec:     cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Ports: []cluster.ContainerPort{{Name: "http", ContainerPort: int32(8080 + i)}}}}},
			NodeName: node, Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: i < 2, PodIP: fmt.Sprintf("10.88.%d.5", i+1)}})
	}
	got := servicePorts(txn.Commit(), "a")
	want := []runtime.ServicePort{
		{Service: "default/db:", ClusterIP: "10.43.0.11", Port: 5432, AffinitySeconds: cluster.DefaultSessionAffinityTimeout,
			Endpoints: []runtime.Endpoint{{IP: "10.88.1.5", Port: 5432}, {IP: "10.88.2.5", Port: 5432, Local: true}, {IP: "10.88.3.5", Port: 5432, Local: true}}},
		{Service: "default/web:http", Protocol: "TCP", ClusterIP: "10.43.0.10", Port: 80, NodePort: 30080, NodeLocal: true,
			Endpoints: []runtime.Endpoint{{IP: "10.88.1.5", Port: 8080}, {IP: "10.88.2.5", Port: 8081, Local: true}}},
		{Service: "default/web:old", Protocol: "TCP", ClusterIP: "10.43.0.10", Port: 81,
			Endpoints: []runtime.Endpoint{{IP: "10.88.1.5", Port: 81}, {IP: "10.88.2.5", Port: 81, Local: true}}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("service ports\n got %+v\nwant %+v", got, want)
	}
}
