package main

import (
	"time"

	"shoal/agent/api"
	"shoal/cluster"
)

// goldenNow is the clock of every golden test: ages and start times are
// measured from it so that the goldens never change with the day they run.
var goldenNow = time.Date(2025, time.March, 14, 12, 0, 0, 0, time.UTC)

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

// cluster4 is one small cluster seen through the API: four nodes of every
// Raft role and status, and the pods, workloads and services that run on
// them, in the states users most often ask the CLI to explain.
type cluster4 struct {
	nodes        []api.NodeView
	pods         []*cluster.Pod
	deployments  []api.WorkloadView
	statefulsets []api.WorkloadView
	services     []*cluster.Service
}

func fixtures(now time.Time) cluster4 {
	return cluster4{
		nodes:        fixtureNodes(),
		pods:         fixturePods(now),
		deployments:  fixtureDeployments(now),
		statefulsets: fixtureStatefulSets(now),
		services:     fixtureServices(),
	}
}

func fixtureNodes() []api.NodeView {
	h100 := func(i int, uuid string) cluster.GPU {
		return cluster.GPU{Index: i, UUID: uuid, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 * gi}
	}
	return []api.NodeView{
		{
			Node: &cluster.Node{
				Name: "gpu-1", Address: "10.0.0.11", APIAddr: "10.0.0.11:7948", PodCIDR: "10.88.1.0/24",
				Labels:      map[string]string{"zone": "eu-1a", "accelerator": "h100"},
				Capacity:    cluster.Resources{MilliCPU: 32000, Memory: 256 * gi, GPU: 2},
				Allocatable: cluster.Resources{MilliCPU: 31500, Memory: 250 * gi, GPU: 2},
				GPUs:        []cluster.GPU{h100(0, "GPU-5a1e2c3d-0f4b-4c7e-9a8d-1b2c3d4e5f60"), h100(1, "GPU-9b8a7c6d-5e4f-4a3b-8c2d-0e1f2a3b4c5d")},
				Status:      cluster.NodeReady, Raft: cluster.RaftLeader,
			},
			Requested:  cluster.Resources{MilliCPU: 4250, Memory: 24*gi + 512*mi, GPU: 1},
			Pods:       2,
			GPUHolders: map[string]string{"GPU-5a1e2c3d-0f4b-4c7e-9a8d-1b2c3d4e5f60": "ml/trainer-0"},
		},
		{
			Node: &cluster.Node{
				Name: "node-b", Address: "10.0.0.12", APIAddr: "10.0.0.12:7948", PodCIDR: "10.88.2.0/24",
				Labels:      map[string]string{"zone": "eu-1b"},
				Capacity:    cluster.Resources{MilliCPU: 8000, Memory: 32 * gi},
				Allocatable: cluster.Resources{MilliCPU: 7500, Memory: 30 * gi},
				Status:      cluster.NodeReady, Raft: cluster.RaftVoter,
			},
			Requested: cluster.Resources{MilliCPU: 1550, Memory: 1*gi + 544*mi},
			Pods:      5,
			// Its data dir is below the reserve: gossip says so.
			Conditions: []string{"DiskPressure"},
		},
		{
			// Down: gone past the grace period, so out of the Raft
			// configuration and with no role.
			Node: &cluster.Node{
				Name: "node-c", Address: "10.0.0.13", APIAddr: "10.0.0.13:7948", PodCIDR: "10.88.3.0/24",
				Labels:      map[string]string{"zone": "eu-1c"},
				Capacity:    cluster.Resources{MilliCPU: 8000, Memory: 32 * gi},
				Allocatable: cluster.Resources{MilliCPU: 7500, Memory: 30 * gi},
				Status:      cluster.NodeDown,
			},
		},
		{
			// Cordoned for maintenance and a nonvoter; its GPU was given
			// with --capacity, so it has an index only.
			Node: &cluster.Node{
				Name: "node-d", Address: "10.0.0.14", PodCIDR: "10.88.4.0/24",
				Capacity:      cluster.Resources{MilliCPU: 4000, Memory: 16 * gi, GPU: 1},
				Allocatable:   cluster.Resources{MilliCPU: 3500, Memory: 15 * gi, GPU: 1},
				GPUs:          []cluster.GPU{{Index: 0}},
				Unschedulable: true,
				Taints: []cluster.Taint{
					{Key: "nvidia.com/gpu", Value: "present", Effect: cluster.TaintNoSchedule},
					{Key: "maintenance", Effect: cluster.TaintNoExecute},
				},
				Status: cluster.NodeReady, Raft: cluster.RaftNonvoter,
			},
		},
	}
}

func owner(kind cluster.WorkloadKind, name string) *cluster.OwnerRef {
	return &cluster.OwnerRef{Kind: kind, Name: name, UID: "uid-" + name}
}

func fixturePods(now time.Time) []*cluster.Pod {
	return []*cluster.Pod{
		podRunning(now), podTerminating(now), podPending(now), podCrashLoop(now), podOOMKilled(now),
		podSidecar(now), podInitDone(now), podDB0(now), podVolumeWait(now), podTrainer(now), podCreating(now),
	}
}

// podRunning is the plain case: one ready container, up for three hours.
func podRunning(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: "web-7d4b9c-x2k8p", UID: "a3f1c2d4-0001",
		Labels: map[string]string{"app": "web"}, Owner: owner(cluster.KindDeployment, "web"), Ordinal: -1,
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "nginx", Image: "nginx:1.27",
			Requests: cluster.Resources{MilliCPU: 250, Memory: 128 * mi},
		}}},
		NodeName: "node-b",
		Status: cluster.PodStatus{
			Phase: cluster.PodRunning, PodIP: "10.88.2.14", HostIP: "10.0.0.12", Ready: true,
			StartedAt: now.Add(-3*time.Hour + 5*time.Second),
			Containers: []cluster.ContainerStatus{{
				Name: "nginx", State: cluster.ContainerRunning, Ready: true, Image: "nginx:1.27",
				StartedAt: now.Add(-3*time.Hour + 9*time.Second),
			}},
		},
		CreatedAt: now.Add(-3 * time.Hour),
	}
}

// podTerminating is from the previous template, asked to stop by the
// rollout and still in its grace period.
func podTerminating(now time.Time) *cluster.Pod {
	p := podRunning(now)
	p.Name, p.UID, p.TemplateHash = "web-6c5d8b-r4n2m", "a3f1c2d4-0011", "6c5d8b"
	p.Status.PodIP = "10.88.2.11"
	p.Terminating = true
	p.CreatedAt = now.Add(-4 * 24 * time.Hour)
	return p
}

// podPending could not be placed: the scheduler said why.
func podPending(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: "web-7d4b9c-q9z7f", UID: "a3f1c2d4-0002",
		Labels: map[string]string{"app": "web"}, Owner: owner(cluster.KindDeployment, "web"), Ordinal: -1,
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "nginx", Image: "nginx:1.27",
			Requests: cluster.Resources{MilliCPU: 250, Memory: 48 * gi},
		}}},
		SchedulingMessage: "0/4 nodes are available: 2 insufficient memory, 1 node(s) were not ready, 1 node(s) were unschedulable",
		CreatedAt:         now.Add(-150 * time.Second),
	}
}

// podCrashLoop was OOM-killed five times and now waits out its back-off.
func podCrashLoop(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: "api-5f6c8d-mmx4t", UID: "a3f1c2d4-0003",
		Labels: map[string]string{"app": "api", "tier": "backend"}, Owner: owner(cluster.KindDeployment, "api"), Ordinal: -1,
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "api", Image: "registry.local:5000/shop/api:2.4.1",
			Command: []string{"/app/api"}, Args: []string{"--port=8080", "--cache=512Mi"},
			Requests: cluster.Resources{MilliCPU: 250, Memory: 128 * mi},
			Limits:   cluster.Resources{MilliCPU: 1000, Memory: 256 * mi},
		}}},
		NodeName: "node-b",
		Status: cluster.PodStatus{
			Phase: cluster.PodRunning, PodIP: "10.88.2.17", HostIP: "10.0.0.12",
			StartedAt: now.Add(-47 * time.Minute),
			Containers: []cluster.ContainerStatus{{
				Name: "api", State: cluster.ContainerWaiting, Reason: "CrashLoopBackOff",
				Message:      "back-off 2m40s restarting failed container",
				RestartCount: 5, LastTermination: "OOMKilled", LastExitCode: 137,
				Image: "registry.local:5000/shop/api:2.4.1",
			}},
		},
		CreatedAt: now.Add(-47 * time.Minute),
	}
}

// podOOMKilled is a bare batch pod that never restarts: its container's
// current state is the kill itself.
func podOOMKilled(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: "resize-images", UID: "a3f1c2d4-0004", Ordinal: -1,
		Spec: cluster.PodSpec{
			RestartPolicy: cluster.RestartNever,
			Containers: []cluster.Container{{
				Name: "resize", Image: "busybox:1.36",
				Command:  []string{"sh", "-c", "resize --all /data"},
				Limits:   cluster.Resources{Memory: 64 * mi},
				Requests: cluster.Resources{Memory: 64 * mi},
			}},
		},
		NodeName: "node-b",
		Status: cluster.PodStatus{
			Phase: cluster.PodFailed, PodIP: "10.88.2.21", HostIP: "10.0.0.12",
			StartedAt: now.Add(-26 * time.Hour),
			Containers: []cluster.ContainerStatus{{
				Name: "resize", State: cluster.ContainerTerminated, Reason: "OOMKilled", ExitCode: 137,
				StartedAt:  now.Add(-26 * time.Hour),
				FinishedAt: now.Add(-26*time.Hour + 41*time.Second),
				Image:      "busybox:1.36",
			}},
		},
		CreatedAt: now.Add(-26 * time.Hour),
	}
}

// podSidecar runs a native sidecar (an init container with restartPolicy
// Always) beside its main container. READY counts the sidecar on both
// sides, as kubectl does: 2/2.
func podSidecar(now time.Time) *cluster.Pod {
	logs := []cluster.VolumeMount{{Name: "logs", MountPath: "/var/log/shop"}}
	return &cluster.Pod{
		Namespace: "default", Name: "shop-6b8f94-k7wqz", UID: "a3f1c2d4-0005",
		Labels: map[string]string{"app": "shop"}, Owner: owner(cluster.KindDeployment, "shop"), Ordinal: -1,
		Spec: cluster.PodSpec{
			InitContainers: []cluster.Container{{
				Name: "log-shipper", Image: "fluent/fluent-bit:3.1", RestartPolicy: cluster.RestartAlways,
				Requests: cluster.Resources{MilliCPU: 50, Memory: 32 * mi}, VolumeMounts: logs,
			}},
			Containers: []cluster.Container{{
				Name: "shop", Image: "registry.local:5000/shop/web:1.9.0",
				Requests: cluster.Resources{MilliCPU: 500, Memory: 256 * mi}, VolumeMounts: logs,
			}},
			Volumes: []cluster.Volume{
				{Name: "logs", EmptyDir: &cluster.EmptyDirSource{}},
				{Name: "certs", HostPath: &cluster.HostPathSource{Path: "/etc/shoal/certs"}},
			},
		},
		NodeName: "node-b",
		Status: cluster.PodStatus{
			Phase: cluster.PodRunning, PodIP: "10.88.2.19", HostIP: "10.0.0.12", Ready: true,
			StartedAt: now.Add(-5*24*time.Hour - 2*time.Hour),
			Containers: []cluster.ContainerStatus{
				{Name: "log-shipper", State: cluster.ContainerRunning, Ready: true, StartedAt: now.Add(-5*24*time.Hour - 2*time.Hour)},
				{Name: "shop", State: cluster.ContainerRunning, Ready: true, RestartCount: 1, StartedAt: now.Add(-4 * 24 * time.Hour)},
			},
		},
		CreatedAt: now.Add(-5*24*time.Hour - 2*time.Hour),
	}
}

// podInitDone ran an ordinary init container to completion and is now
// Running. The node keeps the init container's Completed status first in
// the list; STATUS must still read Running, as kubectl's does.
func podInitDone(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: "ledger-8c7d5f-5tq2w", UID: "a3f1c2d4-0006",
		Labels: map[string]string{"app": "ledger"}, Owner: owner(cluster.KindDeployment, "ledger"), Ordinal: -1,
		Spec: cluster.PodSpec{
			InitContainers: []cluster.Container{{Name: "migrate", Image: "registry.local:5000/ledger:3.0", Args: []string{"migrate", "up"}}},
			Containers:     []cluster.Container{{Name: "ledger", Image: "registry.local:5000/ledger:3.0"}},
		},
		NodeName: "node-b",
		Status: cluster.PodStatus{
			Phase: cluster.PodRunning, PodIP: "10.88.2.20", HostIP: "10.0.0.12", Ready: true,
			StartedAt: now.Add(-9 * time.Minute),
			Containers: []cluster.ContainerStatus{
				{Name: "migrate", State: cluster.ContainerTerminated, Reason: "Completed", StartedAt: now.Add(-9 * time.Minute)},
				{Name: "ledger", State: cluster.ContainerRunning, Ready: true, StartedAt: now.Add(-8 * time.Minute)},
			},
		},
		CreatedAt: now.Add(-9 * time.Minute),
	}
}

// podDB0 is the StatefulSet replica that still runs, with a metrics
// exporter beside the database.
func podDB0(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: "db-0", UID: "a3f1c2d4-0010",
		Labels: map[string]string{"app": "db"}, Owner: owner(cluster.KindStatefulSet, "db"), Ordinal: 0,
		Spec: cluster.PodSpec{
			Containers: []cluster.Container{
				{Name: "postgres", Image: "postgres:16", Requests: cluster.Resources{MilliCPU: 500, Memory: 1 * gi}},
				{Name: "exporter", Image: "prometheuscommunity/postgres-exporter:v0.15.0"},
			},
			Volumes: []cluster.Volume{{Name: "data", Claim: &cluster.ClaimSource{ClaimName: "data-db-0", Storage: 10 * gi}}},
		},
		NodeName: "node-b",
		Status: cluster.PodStatus{
			Phase: cluster.PodRunning, PodIP: "10.88.2.9", HostIP: "10.0.0.12", Ready: true,
			StartedAt: now.Add(-40 * time.Hour),
			Containers: []cluster.ContainerStatus{
				{Name: "postgres", State: cluster.ContainerRunning, Ready: true, StartedAt: now.Add(-40 * time.Hour)},
				{Name: "exporter", State: cluster.ContainerRunning, Ready: true, RestartCount: 2, StartedAt: now.Add(-39 * time.Hour)},
			},
		},
		CreatedAt: now.Add(-40 * time.Hour),
	}
}

// podVolumeWait is a StatefulSet replica whose claim data lives on the
// Down node-c: the scheduler keeps it Pending rather than start it afresh.
func podVolumeWait(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: "db-1", UID: "a3f1c2d4-0007",
		Labels: map[string]string{"app": "db"}, Owner: owner(cluster.KindStatefulSet, "db"), Ordinal: 1,
		Spec: cluster.PodSpec{
			Containers: []cluster.Container{{
				Name: "postgres", Image: "postgres:16",
				Requests:     cluster.Resources{MilliCPU: 500, Memory: 1 * gi},
				Limits:       cluster.Resources{Memory: 2 * gi},
				VolumeMounts: []cluster.VolumeMount{{Name: "data", MountPath: "/var/lib/postgresql/data"}},
			}},
			Volumes:   []cluster.Volume{{Name: "data", Claim: &cluster.ClaimSource{ClaimName: "data-db-1", Storage: 10 * gi}}},
			Hostname:  "db-1",
			Subdomain: "db",
		},
		SchedulingMessage: "waiting for node node-c, which holds volume data-db-1",
		CreatedAt:         now.Add(-6 * time.Minute),
	}
}

// podTrainer holds one of gpu-1's GPUs, in another namespace.
func podTrainer(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "ml", Name: "trainer-0", UID: "a3f1c2d4-0008",
		Labels: map[string]string{"app": "trainer"}, Owner: owner(cluster.KindStatefulSet, "trainer"), Ordinal: 0,
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "train", Image: "nvcr.io/nvidia/pytorch:24.05-py3",
			Requests: cluster.Resources{MilliCPU: 4000, Memory: 24 * gi, GPU: 1},
			Limits:   cluster.Resources{GPU: 1},
		}}},
		NodeName: "gpu-1",
		GPUs:     []string{"GPU-5a1e2c3d-0f4b-4c7e-9a8d-1b2c3d4e5f60"},
		Status: cluster.PodStatus{
			Phase: cluster.PodRunning, PodIP: "10.88.1.5", HostIP: "10.0.0.11", Ready: true,
			StartedAt: now.Add(-30 * time.Hour),
			Containers: []cluster.ContainerStatus{{
				Name: "train", State: cluster.ContainerRunning, Ready: true, StartedAt: now.Add(-30 * time.Hour),
			}},
		},
		CreatedAt: now.Add(-30 * time.Hour),
	}
}

// podCreating is placed but not yet reported by its node.
func podCreating(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "ml", Name: "notebook", UID: "a3f1c2d4-0009", Ordinal: -1,
		Annotations: map[string]string{"owner": "ml-team"},
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "jupyter", Image: "quay.io/jupyter/base-notebook:2024-10-07",
			Requests: cluster.Resources{MilliCPU: 250, Memory: 512 * mi},
		}}, ServiceAccountName: "jupyter", ShareProcessNamespace: true, DNSPolicy: cluster.DNSDefault},
		NodeName:  "gpu-1",
		CreatedAt: now.Add(-12 * time.Second),
	}
}

func fixtureDeployments(now time.Time) []api.WorkloadView {
	dep := func(name string, replicas int32, c cluster.Container, age time.Duration) *cluster.Workload {
		return &cluster.Workload{
			Kind: cluster.KindDeployment, Namespace: "default", Name: name, UID: "uid-" + name,
			Replicas: replicas, Selector: map[string]string{"app": name},
			Template:   cluster.PodSpec{Containers: []cluster.Container{c}},
			Generation: 3, TemplateHash: "7d4b9c", CreatedAt: now.Add(-age),
		}
	}
	web := dep("web", 2, cluster.Container{Name: "nginx", Image: "nginx:1.27"}, 3*time.Hour)
	api1 := dep("api", 1, cluster.Container{Name: "api", Image: "registry.local:5000/shop/api:2.4.1"}, 50*24*time.Hour)
	api1.Strategy = "Recreate"
	shop := dep("shop", 1, cluster.Container{Name: "shop", Image: "registry.local:5000/shop/web:1.9.0"}, 5*24*time.Hour)
	shop.Template.InitContainers = []cluster.Container{{Name: "log-shipper", Image: "fluent/fluent-bit:3.1", RestartPolicy: cluster.RestartAlways}}
	shop.MaxSurge, shop.MaxUnavailable = "1", "0"
	return []api.WorkloadView{
		{Workload: web, Status: api.WorkloadStatus{Replicas: 2, Ready: 1, Updated: 2, Available: 1}},
		{Workload: api1, Status: api.WorkloadStatus{Replicas: 1, Updated: 1}},
		{Workload: shop, Status: api.WorkloadStatus{Replicas: 1, Ready: 1, Updated: 1, Available: 1}},
	}
}

func fixtureStatefulSets(now time.Time) []api.WorkloadView {
	db := &cluster.Workload{
		Kind: cluster.KindStatefulSet, Namespace: "default", Name: "db", UID: "uid-db",
		Replicas: 2, Selector: map[string]string{"app": "db"},
		Template: cluster.PodSpec{Containers: []cluster.Container{
			{Name: "postgres", Image: "postgres:16"},
			{Name: "exporter", Image: "prometheuscommunity/postgres-exporter:v0.15.0"},
		}},
		ServiceName:          "db",
		VolumeClaimTemplates: []cluster.ClaimSource{{ClaimName: "data", Storage: 10 * gi}},
		Generation:           1, TemplateHash: "5c9e1a", CreatedAt: now.Add(-40 * time.Hour),
	}
	return []api.WorkloadView{{Workload: db, Status: api.WorkloadStatus{Replicas: 2, Ready: 1, Updated: 2, Available: 1}}}
}

func fixtureServices() []*cluster.Service {
	return []*cluster.Service{
		{
			Namespace: "default", Name: "web", UID: "uid-svc-web", ClusterIP: "10.43.12.7",
			SessionAffinity: cluster.SessionAffinityClientIP, SessionAffinityTimeout: 600,
			Selector: map[string]string{"app": "web"},
			Ports:    []cluster.ServicePort{{Name: "http", Port: 80, TargetPort: 8080}, {Name: "https", Port: 443}},
		},
		{
			Namespace: "default", Name: "db", UID: "uid-svc-db", ClusterIP: "None",
			Selector: map[string]string{"app": "db"},
			Ports:    []cluster.ServicePort{{Port: 5432}},
		},
		{
			Namespace: "default", Name: "dns", UID: "uid-svc-dns", Type: "NodePort", ClusterIP: "10.43.0.10",
			ExternalTrafficPolicy: cluster.ExternalTrafficPolicyLocal,
			Selector:              map[string]string{"app": "coredns"},
			Ports:                 []cluster.ServicePort{{Name: "dns", Protocol: "UDP", Port: 53, NodePort: 30053}},
		},
		{
			Namespace: "default", Name: "shop", UID: "uid-svc-shop", Type: "LoadBalancer", ClusterIP: "10.43.200.1",
			Selector: map[string]string{"app": "shop"},
			Ports: []cluster.ServicePort{{Name: "http", Port: 80, TargetPortName: "http", NodePort: 30080, AppProtocol: "http"},
				{Name: "https", Port: 443, NodePort: 30443}},
			LoadBalancerIngress: []string{"10.0.0.11", "10.0.0.12"},
		},
		{
			Namespace: "default", Name: "new-lb", UID: "uid-svc-new-lb", Type: "LoadBalancer",
			Selector: map[string]string{"app": "new"},
			Ports:    []cluster.ServicePort{{Port: 8080, NodePort: 30081}},
		},
	}
}
