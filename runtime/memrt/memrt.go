// Package memrt is a container runtime held in memory: a container starts
// at once and runs until it is stopped, a pod's IP comes from the node's
// pod subnet, and nothing touches the host. The agent's wiring tests run
// pods on it, and the simulation (sim/agentsim) runs thousands of real
// agents on it in a few processes. It implements what the agent needs of
// *runtime.Runtime.
package memrt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"shoal/cluster"
	"shoal/pullauth"
	"shoal/runtime"
	"shoal/runtime/rtapi"
)

// defaultSubnet gives pods their IPs until SetPodCIDR names the node's.
var defaultSubnet = netip.MustParsePrefix("10.88.0.0/24")

// Runtime holds a node's pods in memory.
type Runtime struct {
	dir    string
	events chan rtapi.Event

	mu       sync.Mutex
	subnet   netip.Prefix
	nextIP   netip.Addr
	pods     map[string]*rtapi.PodState
	routes   []runtime.Route
	services []runtime.ServicePort
	closed   bool
	healthy  func(ctx context.Context) error
}

// New is an empty runtime; dir is where claim volumes would live.
func New(dir string) *Runtime {
	r := &Runtime{dir: dir, events: make(chan rtapi.Event, 100), pods: map[string]*rtapi.PodState{}}
	r.setSubnet(defaultSubnet)
	return r
}

// SetPodCIDR makes new pods take their IPs from cidr, the node's pod
// subnet (the agent learns it when it registers).
func (r *Runtime) SetPodCIDR(cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("pod cidr: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setSubnet(p.Masked())
	return nil
}

// setSubnet skips the network address and the gateway (.1), as the pod
// bridge does.
func (r *Runtime) setSubnet(p netip.Prefix) {
	r.subnet = p
	r.nextIP = p.Addr().Next().Next()
}

// SetHealthy makes Healthy answer with f (nil: always healthy).
func (r *Runtime) SetHealthy(f func(ctx context.Context) error) {
	r.mu.Lock()
	r.healthy = f
	r.mu.Unlock()
}

// allocIP is the next free address of the subnet, as CNI's host-local
// IPAM gives them on the pod bridge (neither the gateway nor an IPv4
// subnet's broadcast address); a full subnet is an error, as its is.
func (r *Runtime) allocIP() (netip.Addr, error) {
	used := map[string]bool{}
	for _, p := range r.pods {
		used[p.Sandbox.IP] = true
	}
	for a, n := r.nextIP, 0; n < 1<<16; a, n = a.Next(), n+1 {
		if !r.subnet.Contains(a) || (a.Is4() && !r.subnet.Contains(a.Next())) {
			a = r.subnet.Addr().Next().Next()
		}
		if !used[a.String()] {
			r.nextIP = a.Next()
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address in %s", r.subnet)
}

func (r *Runtime) EnsureSandbox(_ context.Context, pod *cluster.Pod) (*rtapi.PodSandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[pod.UID]
	if p == nil {
		ip, err := r.allocIP()
		if err != nil {
			return nil, fmt.Errorf("sandbox of %s: %w", pod.Name, err)
		}
		p = &rtapi.PodState{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name,
			Sandbox: &rtapi.PodSandbox{UID: pod.UID, IP: ip.String()}}
		r.pods[pod.UID] = p
	}
	sb := *p.Sandbox
	return &sb, nil
}

// PullImage: every image is present.
func (r *Runtime) PullImage(context.Context, string, string, ...pullauth.Credential) error {
	return nil
}

func (r *Runtime) StartContainer(_ context.Context, pod *cluster.Pod, _ *rtapi.PodSandbox, c cluster.Container, attempt int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[pod.UID]
	if p == nil {
		return errors.New("no sandbox")
	}
	st := rtapi.ContainerState{Name: c.Name, ID: pod.UID + "-" + c.Name, Generation: pod.TemplateHash,
		Attempt: attempt, Running: true, StartedAt: time.Now(), Image: c.Image}
	for i := range p.Containers {
		if p.Containers[i].Name == c.Name {
			p.Containers[i] = st
			return nil
		}
	}
	p.Containers = append(p.Containers, st)
	return nil
}

func (r *Runtime) WriteVolume(_ context.Context, pod *cluster.Pod, _ string, _ []rtapi.VolumeFile) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pods[pod.UID] == nil {
		return errors.New("no sandbox")
	}
	return nil
}

func (r *Runtime) UpdateResources(_ context.Context, uid string, c cluster.Container) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pods[uid]; p != nil {
		for i := range p.Containers {
			if ct := &p.Containers[i]; ct.Name == c.Name && ct.Running {
				ct.Resources = &cluster.AppliedResources{Requests: c.Requests, Limits: c.Limits}
				return nil
			}
		}
	}
	return errors.New("container not running")
}

func (r *Runtime) StopContainer(_ context.Context, uid, name string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pods[uid]; p != nil {
		for i := range p.Containers {
			if c := &p.Containers[i]; c.Name == name && c.Running {
				c.Running, c.Exited, c.ExitCode, c.FinishedAt = false, true, 137, time.Now()
			}
		}
	}
	return nil
}

func (r *Runtime) RemovePod(_ context.Context, uid string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pods, uid)
	return nil
}

func (r *Runtime) ListPods(context.Context) ([]rtapi.PodState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]rtapi.PodState, 0, len(r.pods))
	for _, p := range r.pods {
		c := *p
		c.Containers = slices.Clone(p.Containers)
		out = append(out, c)
	}
	return out, nil
}

func (r *Runtime) PodState(_ context.Context, uid string) (*rtapi.PodState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pods[uid]
	if p == nil {
		return nil, nil
	}
	c := *p
	c.Containers = slices.Clone(p.Containers)
	return &c, nil
}

// Exec echoes the command: there is no process to run it in.
func (r *Runtime) Exec(_ context.Context, uid, container string, cmd []string, _ io.Reader, stdout, _ io.Writer) (rtapi.ExecResult, error) {
	_, err := fmt.Fprintf(stdout, "%s/%s: %s\n", uid, container, strings.Join(cmd, " "))
	return rtapi.ExecResult{ExitCode: 0}, err
}

func (r *Runtime) Logs(_ context.Context, _, container string, _ bool, w io.Writer) error {
	_, err := fmt.Fprintf(w, "log of %s\n", container)
	return err
}

func (r *Runtime) Events(context.Context) <-chan rtapi.Event { return r.events }

// PodStorage: containers held in memory use no disk.
func (r *Runtime) PodStorage(context.Context, *cluster.Pod) (rtapi.PodStorage, error) {
	return rtapi.PodStorage{}, nil
}

func (r *Runtime) SyncRoutes(_ context.Context, routes []runtime.Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = slices.Clone(routes)
	return nil
}

func (r *Runtime) SyncServices(_ context.Context, ports []runtime.ServicePort) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.services = slices.Clone(ports)
	return nil
}

// CgroupPath: containers held in memory have no cgroup (the sampler
// finds none and reports only the node).
func (r *Runtime) CgroupPath(podUID, container string) string {
	return "/shoal-memrt-none/" + podUID + "/" + container
}

func (r *Runtime) ClaimDir(ns string, claim *cluster.ClaimSource, pod string) string {
	return filepath.Join(r.dir, "volumes", ns, claim.DirName(pod))
}

func (r *Runtime) Healthy(ctx context.Context) error {
	r.mu.Lock()
	healthy := r.healthy
	r.mu.Unlock()
	if healthy == nil {
		return nil
	}
	return healthy(ctx)
}

func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// Running lists "pod/container" of every running container, sorted.
func (r *Runtime) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.pods {
		for _, c := range p.Containers {
			if c.Running {
				out = append(out, p.Name+"/"+c.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Routes is what the agent last asked to route to other nodes' pods.
func (r *Runtime) Routes() []runtime.Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.routes)
}

// PodIPs is the IP of every pod held, sorted.
func (r *Runtime) PodIPs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.pods))
	for _, p := range r.pods {
		out = append(out, p.Sandbox.IP)
	}
	slices.Sort(out)
	return out
}
