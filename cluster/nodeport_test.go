package cluster

import (
	"fmt"
	"testing"
)

func npService(name, typ string, ports ...ServicePort) *Service {
	return &Service{Namespace: "default", Name: name, Type: typ, Selector: map[string]string{"app": name}, Ports: ports}
}

func TestNodePorts(t *testing.T) {
	others := []*Service{
		npService("a", ServiceTypeNodePort, ServicePort{Name: "http", Port: 80, NodePort: 30000}, ServicePort{Name: "dns", Port: 53, Protocol: "UDP", NodePort: 30002}),
		npService("c", ServiceTypeClusterIP, ServicePort{Port: 80}),
	}
	tests := []struct {
		name    string
		svc     *Service
		old     *Service
		want    string // the node ports after keep and allocate
		wantErr string
	}{
		{name: "lowest free", svc: npService("b", ServiceTypeLoadBalancer, ServicePort{Name: "x", Port: 1}, ServicePort{Name: "y", Port: 2}),
			want: "[30001 30003]"},
		{name: "kept from the same-named port", svc: npService("b", ServiceTypeNodePort, ServicePort{Name: "x", Port: 8080}),
			old: npService("b", ServiceTypeNodePort, ServicePort{Name: "x", Port: 80, NodePort: 31000}), want: "[31000]"},
		{name: "not kept when another port asks for it",
			svc: npService("b", ServiceTypeNodePort, ServicePort{Name: "x", Port: 1}, ServicePort{Name: "y", Port: 2, NodePort: 31000}),
			old: npService("b", ServiceTypeNodePort, ServicePort{Name: "x", Port: 1, NodePort: 31000}), want: "[30001 31000]"},
		{name: "a ClusterIP service has none", svc: npService("b", ServiceTypeClusterIP, ServicePort{Name: "x", Port: 1}),
			old: npService("b", ServiceTypeNodePort, ServicePort{Name: "x", Port: 1, NodePort: 31000}), want: "[0]"},
		{name: "its own old version is no conflict", svc: npService("a", ServiceTypeNodePort, ServicePort{Name: "http", Port: 80, NodePort: 30000}),
			want: "[30000]"},
		{name: "taken by another service", svc: npService("b", ServiceTypeNodePort, ServicePort{Port: 53, Protocol: "TCP", NodePort: 30002}),
			wantErr: "spec.ports[0].nodePort: 30002 is already used by service default/a"},
		{name: "twice for one protocol", svc: npService("b", ServiceTypeNodePort, ServicePort{Name: "x", Port: 1, NodePort: 31000}, ServicePort{Name: "y", Port: 2, NodePort: 31000}),
			wantErr: "spec.ports[1].nodePort: 31000 is also spec.ports[0]'s for TCP"},
		{name: "one number for TCP and UDP", svc: npService("b", ServiceTypeNodePort, ServicePort{Name: "x", Port: 53, NodePort: 31000}, ServicePort{Name: "y", Port: 53, Protocol: "UDP", NodePort: 31000}),
			want: "[31000 31000]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			KeepNodePorts(tt.svc, tt.old)
			err := NodePortConflict(tt.svc, others)
			if err == nil {
				err = AllocateNodePorts(tt.svc, others)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int32
			for _, p := range tt.svc.Ports {
				got = append(got, p.NodePort)
			}
			if fmt.Sprint(got) != tt.want {
				t.Errorf("node ports %v, want %s", got, tt.want)
			}
		})
	}
}

func TestNodePortRangeFull(t *testing.T) {
	var ports []ServicePort
	for n := NodePortMin; n <= NodePortMax; n++ {
		ports = append(ports, ServicePort{Name: fmt.Sprint(n), Port: 1, NodePort: int32(n)})
	}
	full := []*Service{npService("a", ServiceTypeNodePort, ports...)}
	err := AllocateNodePorts(npService("b", ServiceTypeNodePort, ServicePort{Port: 1}), full)
	if err == nil || err.Error() != "spec.ports[0].nodePort: no free node port left in 30000-32767" {
		t.Fatalf("error %v", err)
	}
}

func TestServiceEndpoints(t *testing.T) {
	txn := Empty().Txn(1)
	pod := func(name, ip string, ready bool, labels map[string]string, ports ...ContainerPort) {
		p := &Pod{Namespace: "default", Name: name, UID: name, Labels: labels, NodeName: "n1",
			Spec:   PodSpec{Containers: []Container{{Name: "c", Ports: ports}}},
			Status: PodStatus{Phase: PodRunning, Ready: ready, PodIP: ip}}
		txn.PutPod(p)
	}
	web := map[string]string{"app": "web"}
	pod("w2", "10.88.0.12", true, web, ContainerPort{Name: "http", ContainerPort: 8080})
	pod("w1", "10.88.0.2", true, web, ContainerPort{Name: "http", ContainerPort: 8081})
	pod("w3", "10.88.0.3", false, web, ContainerPort{Name: "http", ContainerPort: 8080})
	pod("w4", "10.88.0.4", true, web) // no port named http
	pod("x", "10.88.0.5", true, map[string]string{"app": "x"})
	st := txn.Commit()
	svc := npService("web", ServiceTypeNodePort, ServicePort{Name: "http", Port: 80, TargetPortName: "http"}, ServicePort{Name: "raw", Port: 81})
	svc.Selector = web
	got := fmt.Sprint(ServiceEndpoints(st, []*Service{svc}))
	want := "[[[{10.88.0.2 8081 n1} {10.88.0.12 8080 n1}] [{10.88.0.2 81 n1} {10.88.0.4 81 n1} {10.88.0.12 81 n1}]]]"
	if got != want {
		t.Errorf("endpoints\n got %s\nwant %s", got, want)
	}
}

func TestLoadBalancerIngress(t *testing.T) {
	nodes := []*Node{{Name: "a", Address: "192.0.2.1", Status: NodeReady}, {Name: "b", Address: "192.0.2.2", Status: NodeNotReady},
		{Name: "c", Address: "192.0.2.3", Status: NodeReady}}
	if got := fmt.Sprint(LoadBalancerIngress(nodes)); got != "[192.0.2.1 192.0.2.3]" {
		t.Errorf("ingress %s", got)
	}
}
