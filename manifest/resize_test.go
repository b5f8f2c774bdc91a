package manifest

import (
	"reflect"
	"strings"
	"testing"

	"shoal/cluster"
)

func TestResizePolicy(t *testing.T) {
	pod := func(container string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + container
	}
	main := func(policy string) string {
		return pod("  containers:\n  - name: c\n    image: busybox\n    resizePolicy:\n" + policy)
	}
	tests := []struct {
		name string
		in   string
		want []cluster.ContainerResizePolicy
		err  string
	}{
		{name: "both", in: main("    - {resourceName: cpu, restartPolicy: NotRequired}\n    - {resourceName: memory, restartPolicy: RestartContainer}\n"),
			want: []cluster.ContainerResizePolicy{{ResourceName: "cpu", RestartPolicy: cluster.ResizeNotRequired},
				{ResourceName: "memory", RestartPolicy: cluster.ResizeRestartContainer}}},
		{name: "unknown resource", in: main("    - {resourceName: nvidia.com/gpu, restartPolicy: NotRequired}\n"),
			err: `spec.containers[0].resizePolicy[0].resourceName: "nvidia.com/gpu" is not supported (cpu or memory)`},
		{name: "bad policy", in: main("    - {resourceName: cpu, restartPolicy: Always}\n"),
			err: `spec.containers[0].resizePolicy[0].restartPolicy: "Always" is not valid (NotRequired or RestartContainer)`},
		{name: "missing policy", in: main("    - {resourceName: memory}\n"),
			err: `spec.containers[0].resizePolicy[0].restartPolicy: required (NotRequired or RestartContainer)`},
		{name: "twice", in: main("    - {resourceName: cpu, restartPolicy: NotRequired}\n    - {resourceName: cpu, restartPolicy: RestartContainer}\n"),
			err: `spec.containers[0].resizePolicy[1].resourceName: "cpu" is given twice`},
		{name: "unknown field", in: main("    - {resourceName: cpu, restartPolicy: NotRequired, when: now}\n"),
			err: `resizePolicy[0].when`},
		{name: "restart under restartPolicy Never", in: pod("  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}, {resourceName: memory, restartPolicy: RestartContainer}]\n"),
			err: `spec.containers[0].resizePolicy[1].restartPolicy: must be NotRequired when the pod's restartPolicy is Never`},
		{name: "init container", in: pod("  initContainers:\n  - name: i\n    image: busybox\n    resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}]\n  containers:\n  - {name: c, image: busybox}\n"),
			err: `spec.initContainers[0].resizePolicy: may not be set on init containers that are not sidecars`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Decode([]byte(tc.in), "p.yaml")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := objs[0].Pod.Spec.Containers[0]
			if !reflect.DeepEqual(c.ResizePolicy, tc.want) {
				t.Fatalf("resizePolicy %+v, want %+v", c.ResizePolicy, tc.want)
			}
			back := PodToK8s(objs[0].Pod).Spec.Containers[0].ResizePolicy
			if len(back) != len(tc.want) || string(back[0].ResourceName) != tc.want[0].ResourceName {
				t.Fatalf("encoded %+v", back)
			}
		})
	}
}

func TestPodResizeStatusToK8s(t *testing.T) {
	applied := cluster.AppliedResources{Limits: cluster.Resources{MilliCPU: 500, Memory: 64 << 20}}
	tests := []struct {
		name  string
		edit  func(*cluster.Pod)
		conds map[string]string // type → reason
		msg   string
	}{
		{name: "none", edit: func(*cluster.Pod) {}, conds: map[string]string{}},
		{name: "pending", edit: func(p *cluster.Pod) {
			p.ResizePending = &cluster.ResizePending{Reason: cluster.ResizeInfeasible, Message: "Node didn't have enough capacity"}
		}, conds: map[string]string{"PodResizePending": "Infeasible"}, msg: "Node didn't have enough capacity"},
		{name: "in progress", edit: func(p *cluster.Pod) { p.Status.Resizing = true },
			conds: map[string]string{"PodResizeInProgress": ""}},
		{name: "in progress with an error", edit: func(p *cluster.Pod) {
			p.Status.Resizing, p.Status.ResizeMessage = true, "below current usage"
		}, conds: map[string]string{"PodResizeInProgress": "Error"}, msg: "below current usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &cluster.Pod{Name: "p", Namespace: "default", NodeName: "n",
				Spec:   cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "i", Requests: cluster.Resources{MilliCPU: 250}}}},
				Status: cluster.PodStatus{Phase: cluster.PodRunning, Containers: []cluster.ContainerStatus{{Name: "c", State: cluster.ContainerRunning, Resources: applied}}}}
			tc.edit(p)
			k := PodToK8s(p)
			got := map[string]string{}
			for _, c := range k.Status.Conditions {
				if strings.HasPrefix(string(c.Type), "PodResize") {
					got[string(c.Type)] = string(c.Reason)
					if !strings.Contains(c.Message, tc.msg) {
						t.Errorf("%s message %q", c.Type, c.Message)
					}
				}
			}
			if !reflect.DeepEqual(got, tc.conds) {
				t.Errorf("conditions %v, want %v", got, tc.conds)
			}
			if a := k.Status.ContainerStatuses[0].AllocatedResources; a.Cpu().String() != "250m" {
				t.Errorf("allocatedResources %v, want the admitted request", a)
			}
			r := k.Status.ContainerStatuses[0].Resources
			if r == nil || r.Limits.Cpu().String() != "500m" || r.Limits.Memory().String() != "64Mi" {
				t.Errorf("containerStatuses[0].resources %+v", r)
			}
		})
	}
}
