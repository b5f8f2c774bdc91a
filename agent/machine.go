package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"

	"github.com/containerd/containerd/v2/pkg/oci"

	"shoal/agent/apiserver"
	"shoal/agent/fencewatch"
	"shoal/agent/node"
	"shoal/cluster"
	"shoal/gpu"
	"shoal/runtime"
)

// machine is what an agent needs of the server it runs on beyond its own
// listeners: the pod network and a container runtime. hostMachine is the
// real one (ip(8), containerd); the agent's wiring tests use a fake, so
// they run without root.
type machine interface {
	// podNetwork prepares this node's pod network for podCIDR and returns
	// the address pods reach this node's DNS server at (HOST:PORT).
	podNetwork(ctx context.Context, cfg Config, podCIDR string) (podDNS string, err error)
	// startRuntime connects to the container runtime (starting it when
	// the agent supervises it); what must stop with the agent is handed
	// to onStop. The daemon is the containerd the agent supervises, nil
	// when it uses one it was given (--containerd).
	startRuntime(ctx context.Context, rc runtimeConfig, onStop func(func())) (nodeRuntime, runtimeDaemon, error)
	// guardLease prepares what stops this node's StatefulSet containers
	// when its fencing lease runs out and the agent cannot (the fencing
	// watchdog): nil when the pods do not outlive the agent. armed: an
	// earlier run's StatefulSet containers may still run here, on that
	// run's guard.
	guardLease(ctx context.Context, cfg Config, log *slog.Logger) (guard leaseGuard, armed bool)
}

// runtimeConfig is what the runtime is started with: the agent's
// configuration and what the cluster decided for this node.
type runtimeConfig struct {
	Config
	podCIDR, clusterCIDR, domain string
	// nameserver is the DNS server pods use (the bridge gateway).
	nameserver string
	gpus       []cluster.GPU
	log        *slog.Logger
}

// nodeRuntime is the container runtime as the agent wires it: the node
// reconciler drives it, the API execs and reads logs through it, the
// route loop writes the host-gw routes and the service loop the
// cluster IP and node-port rules; *runtime.Runtime implements it.
type nodeRuntime interface {
	node.Runtime
	apiserver.Pods
	SyncRoutes(ctx context.Context, routes []runtime.Route) error
	SyncServices(ctx context.Context, ports []runtime.ServicePort) error
	ClaimDir(namespace string, claim *cluster.ClaimSource, podName string) string
	// CgroupPath names a container's cgroup, where the metrics sampler
	// reads its counters.
	CgroupPath(podUID, container string) string
	// Healthy makes a cheap call to the runtime: an error when it is down,
	// ctx's when it hangs.
	Healthy(ctx context.Context) error
	Close() error
}

// hostMachine is the real server: the pod bridge through ip(8), pods
// through containerd.
type hostMachine struct{}

func (hostMachine) podNetwork(ctx context.Context, cfg Config, podCIDR string) (string, error) {
	gateway, err := runtime.EnsureBridge(ctx, cfg.BridgeName, podCIDR)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(gateway, "53"), nil
}

func (hostMachine) startRuntime(ctx context.Context, rc runtimeConfig, onStop func(func())) (nodeRuntime, runtimeDaemon, error) {
	// containerd: a running one, or our own child (as k3s does). Stopping
	// it leaves the shims, and so the pods, running.
	address := rc.Containerd
	var sup *supervisedContainerd
	if address == "" {
		cd, err := runtime.StartContainerd(ctx, filepath.Join(rc.DataDir, "containerd"), rc.log)
		if err != nil {
			return nil, nil, fmt.Errorf("start containerd: %w", err)
		}
		sup = &supervisedContainerd{cd: cd}
		onStop(func() {
			if err := sup.current().Stop(); err != nil {
				rc.log.Warn("stop containerd", "err", err)
			}
		})
		address = cd.Address()
	}
	rt, err := runtime.New(ctx, runtime.Config{
		Address:   address,
		Namespace: rc.ContainerdNamespace,
		DataDir:   rc.DataDir,
		CNI: runtime.CNIConfig{
			BridgeName:  rc.BridgeName,
			PodCIDR:     rc.podCIDR,
			ClusterCIDR: rc.clusterCIDR,
		},
		DNS:                runtime.DNSConfig{Nameserver: rc.nameserver, Domain: rc.domain},
		InsecureRegistries: rc.InsecureRegistries,
		GPUSpec: func(ids []string) oci.SpecOpts {
			return gpu.SpecOpts(ids, gpu.InjectConfig{GPUs: rc.gpus})
		},
		Logger: rc.log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	onStop(func() { _ = rt.Close() })
	if sup == nil {
		return rt, nil, nil
	}
	sup.reconnect = rt.Reconnect
	return rt, sup, nil
}

// guardLease prepares the fencing watchdog: containers outlive the agent.
func (hostMachine) guardLease(ctx context.Context, cfg Config, log *slog.Logger) (leaseGuard, bool) {
	if cfg.FenceWatchdog == "" {
		log.Warn("no fencing watchdog: a StatefulSet pod may run on here after its lease ran out while this agent is down")
		return nil, false
	}
	return fencewatch.NewKeeper(ctx, cfg.FenceWatchdog, cfg.DataDir, log), fencewatch.Armed(cfg.DataDir)
}

// supervisedContainerd is the agent's own containerd across restarts: each
// restart is a new process on the same socket, which the runtime's client
// reconnects to.
type supervisedContainerd struct {
	reconnect func() // the runtime's client: dial now

	mu sync.Mutex
	cd *runtime.Containerd
}

func (s *supervisedContainerd) current() *runtime.Containerd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cd
}

func (s *supervisedContainerd) Exited() <-chan struct{} { return s.current().Exited() }

func (s *supervisedContainerd) Kill() { s.current().Kill() }

func (s *supervisedContainerd) Restart(ctx context.Context) error {
	cd, err := s.current().Restart(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cd = cd
	s.mu.Unlock()
	s.reconnect()
	return nil
}
