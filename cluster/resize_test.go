package cluster

import "testing"

func TestResizeOnly(t *testing.T) {
	base := PodSpec{Containers: []Container{{Name: "c", Image: "i", Requests: Resources{MilliCPU: 100, Memory: 1 << 20}}},
		InitContainers: []Container{{Name: "i", Image: "i"}}}
	tests := []struct {
		name string
		edit func(*PodSpec)
		want bool
	}{
		{"same", func(*PodSpec) {}, true},
		{"cpu and memory", func(s *PodSpec) { s.Containers[0].Limits = Resources{MilliCPU: 2000, Memory: 1 << 30} }, true},
		{"resize policy", func(s *PodSpec) {
			s.Containers[0].ResizePolicy = []ContainerResizePolicy{{ResourceName: ResourceCPU, RestartPolicy: ResizeRestartContainer}}
		}, true},
		{"ephemeral storage", func(s *PodSpec) { s.Containers[0].Requests.EphemeralStorage = 1 }, false},
		{"gpu", func(s *PodSpec) { s.Containers[0].Limits.GPU = 1 }, false},
		{"init container cpu", func(s *PodSpec) { s.InitContainers[0].Requests.MilliCPU = 5 }, false},
		{"image", func(s *PodSpec) { s.Containers[0].Image = "j" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := base.Clone()
			tc.edit(&b)
			if got := ResizeOnly(base, b); got != tc.want {
				t.Fatalf("ResizeOnly = %v, want %v", got, tc.want)
			}
			if got := base.ResourcesDiffer(b.ContainerResources()); got == (tc.name == "same") && tc.want {
				t.Fatalf("ResourcesDiffer = %v", got)
			}
			if tc.want {
				if w := base.WithResources(b.ContainerResources()); ResizeOnly(w, b) && w.ResourcesDiffer(b.ContainerResources()) {
					t.Fatal("WithResources did not take the resources")
				}
			}
		})
	}
}

func TestResizeRestart(t *testing.T) {
	c := Container{ResizePolicy: []ContainerResizePolicy{{ResourceName: ResourceMemory, RestartPolicy: ResizeRestartContainer}}}
	if c.ResizeRestart(ResourceCPU) || !c.ResizeRestart(ResourceMemory) {
		t.Fatal("memory restarts, cpu does not")
	}
}
