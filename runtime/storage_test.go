package runtime_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/runtime/rtapi"
)

// TestPodStorage: what a container writes to its root filesystem counts
// as its writable layer, what it prints as its logs, and what it writes
// to an emptyDir on disk as that volume; a Memory emptyDir is not counted.
func TestPodStorage(t *testing.T) {
	e := newEnv(t)
	w := sh("w", "dd if=/dev/zero of=/fill bs=1M count=6 2>/dev/null; dd if=/dev/zero of=/cache/f bs=1M count=3 2>/dev/null; "+
		"dd if=/dev/zero of=/ram/f bs=1M count=2 2>/dev/null; seq 1 20000; exec sleep 3600")
	w.VolumeMounts = []cluster.VolumeMount{{Name: "cache", MountPath: "/cache"}, {Name: "ram", MountPath: "/ram"}}
	idle := sh("idle", "exec sleep 3600")
	pod := newPod("store", w, idle)
	pod.Spec.Volumes = []cluster.Volume{
		{Name: "cache", EmptyDir: &cluster.EmptyDirSource{}},
		{Name: "ram", EmptyDir: &cluster.EmptyDirSource{Medium: "Memory"}},
	}
	pod.Spec.InitContainers = []cluster.Container{{Name: "never-created", Image: w.Image}}
	e.start(t, pod)
	const mb = 1 << 20
	var got rtapi.PodStorage
	poll.Until(t, 30*time.Second, "the writes to show", func() (bool, string) {
		var err error
		got, err = e.rt.PodStorage(context.Background(), pod)
		if err != nil {
			t.Fatal(err)
		}
		c := got.Containers["w"]
		return c.RootFS >= 6*mb && c.Logs >= 100<<10 && got.EmptyDirs["cache"] >= 3*mb, fmt.Sprintf("%+v", got)
	})
	if c := got.Containers["w"]; c.RootFS > 7*mb {
		t.Errorf("writable layer of w: %d bytes, want about 6MiB (the image's layers do not count)", c.RootFS)
	}
	if c := got.Containers["idle"]; c.RootFS > mb || c.Logs != 0 {
		t.Errorf("idle container: %+v, want next to nothing", c)
	}
	if c, ok := got.Containers["never-created"]; !ok || c != (rtapi.ContainerStorage{}) {
		t.Errorf("a container never created: %+v (listed %t), want zero", c, ok)
	}
	if _, ok := got.EmptyDirs["ram"]; ok {
		t.Errorf("a Memory emptyDir was counted: %+v", got.EmptyDirs)
	}
	if tot := got.Total(); tot < 9*mb {
		t.Errorf("total %d, want at least the 9MiB written", tot)
	}
}
