package agent

import (
	goruntime "runtime"
	"testing"

	"shoal/cluster"
)

// TestNodeRecordEphemeralStorage: the node offers the size of the
// filesystem holding its data dir, unless --capacity says otherwise.
func TestNodeRecordEphemeralStorage(t *testing.T) {
	dir := t.TempDir()
	detected := diskTotal(dir)
	if detected <= 0 {
		t.Fatalf("diskTotal(%s) = %d, want the filesystem's size", dir, detected)
	}
	if got := diskTotal(dir + "/missing"); got != 0 {
		t.Errorf("diskTotal of a missing dir = %d, want 0", got)
	}
	for _, tc := range []struct {
		name     string
		capacity cluster.Resources
		want     int64
	}{
		{"detected", cluster.Resources{}, detected},
		{"overridden", cluster.Resources{EphemeralStorage: 20 << 30}, 20 << 30},
		{"other resources overridden", cluster.Resources{MilliCPU: 2000}, detected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := nodeRecord(Config{Name: "n1", DataDir: dir, Capacity: tc.capacity}, nil)
			if n.Capacity.EphemeralStorage != tc.want || n.Allocatable.EphemeralStorage != tc.want {
				t.Errorf("capacity %d, allocatable %d; want %d", n.Capacity.EphemeralStorage, n.Allocatable.EphemeralStorage, tc.want)
			}
		})
	}
}

// Every agent sets Kubernetes' well-known node labels; the zone (and any
// other label) comes from --labels, which may not override the hostname.
func TestNodeRecordWellKnownLabels(t *testing.T) {
	n := nodeRecord(Config{Name: "n1", DataDir: t.TempDir(), Labels: map[string]string{"topology.kubernetes.io/zone": "eu-1a", "kubernetes.io/hostname": "other"}}, nil)
	want := map[string]string{
		"kubernetes.io/hostname":      "n1",
		"kubernetes.io/os":            "linux",
		"kubernetes.io/arch":          goruntime.GOARCH,
		"topology.kubernetes.io/zone": "eu-1a",
	}
	for k, v := range want {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, n.Labels[k], v, n.Labels)
		}
	}
}
