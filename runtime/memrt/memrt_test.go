package memrt

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"shoal/cluster"
)

func pod(i int) *cluster.Pod {
	return &cluster.Pod{UID: fmt.Sprintf("uid-%d", i), Name: fmt.Sprintf("p%d", i), Namespace: "default"}
}

// TestPodIPs: pods take the subnet's addresses after the gateway, a
// removed pod's address is given again once the others are used, and a
// full subnet refuses a sandbox.
func TestPodIPs(t *testing.T) {
	tests := []struct {
		name, cidr string
		pods       int
		remove     []int // pods removed before one more is added
		want       []string
		full       bool
	}{
		{name: "default subnet", pods: 2, want: []string{"10.88.0.2", "10.88.0.3"}},
		{name: "node subnet", cidr: "10.64.3.0/24", pods: 3, want: []string{"10.64.3.2", "10.64.3.3", "10.64.3.4"}},
		{name: "unmasked cidr", cidr: "10.64.3.7/24", pods: 1, want: []string{"10.64.3.2"}},
		{name: "reuse after wrap", cidr: "192.168.9.0/29", pods: 5, remove: []int{1},
			want: []string{"192.168.9.2", "192.168.9.3", "192.168.9.4", "192.168.9.5", "192.168.9.6"}},
		{name: "full: no broadcast address", cidr: "192.168.9.0/29", pods: 5, full: true,
			want: []string{"192.168.9.2", "192.168.9.3", "192.168.9.4", "192.168.9.5", "192.168.9.6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := New(t.TempDir())
			if tc.cidr != "" {
				if err := r.SetPodCIDR(tc.cidr); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tc.pods {
				if _, err := r.EnsureSandbox(ctx, pod(i)); err != nil {
					t.Fatal(err)
				}
			}
			for _, i := range tc.remove {
				if err := r.RemovePod(ctx, pod(i).UID, 0); err != nil {
					t.Fatal(err)
				}
			}
			if tc.remove != nil {
				if _, err := r.EnsureSandbox(ctx, pod(tc.pods)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.full {
				if sb, err := r.EnsureSandbox(ctx, pod(tc.pods)); err == nil {
					t.Fatalf("a full subnet gave %s", sb.IP)
				}
			}
			if got := r.PodIPs(); !slices.Equal(got, tc.want) {
				t.Fatalf("pod IPs %v, want %v", got, tc.want)
			}
		})
	}
}

// TestContainers: a started container runs until stopped, and a removed
// pod leaves nothing running.
func TestContainers(t *testing.T) {
	ctx := context.Background()
	r := New(t.TempDir())
	p := pod(1)
	sb, err := r.EnsureSandbox(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"app", "side"} {
		if err := r.StartContainer(ctx, p, sb, cluster.Container{Name: c, Image: "busybox:1"}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Running(); !slices.Equal(got, []string{"p1/app", "p1/side"}) {
		t.Fatalf("running %v", got)
	}
	if err := r.StopContainer(ctx, p.UID, "side", 0); err != nil {
		t.Fatal(err)
	}
	st, err := r.PodState(ctx, p.UID)
	if err != nil || st == nil || len(st.Containers) != 2 || st.Containers[1].Running || st.Containers[1].ExitCode != 137 {
		t.Fatalf("after stopping side: %+v, %v", st, err)
	}
	if err := r.RemovePod(ctx, p.UID, 0); err != nil {
		t.Fatal(err)
	}
	if got := r.Running(); len(got) != 0 {
		t.Fatalf("running after removal: %v", got)
	}
	if err := r.StartContainer(ctx, p, sb, cluster.Container{Name: "app"}, 1); err == nil {
		t.Fatal("a container started in a removed pod's sandbox")
	}
}
