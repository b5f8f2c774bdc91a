// Package runtime runs Shoal pods on containerd: a network namespace per pod
// set up through CNI (no pause container), containers joining it, volumes,
// cgroup limits, logs on disk, exec and events.
package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"shoal/cluster"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"google.golang.org/grpc"
)

// Errors callers may test with errors.Is.
var (
	// ErrNotFound: the pod or container is not known to this runtime.
	ErrNotFound = errors.New("not found")
	// ErrImageNotPresent: policy Never and the image is not local.
	ErrImageNotPresent = errors.New("image not present")
	// ErrImageNotVerified: policy Never and the image was pulled with
	// registry credentials the caller did not show.
	ErrImageNotVerified = errors.New("image present but pulled with registry credentials this pod does not have (policy Never: they cannot be checked)")
	// ErrInvalid: the pod spec cannot be run as asked (bad volume, path).
	ErrInvalid = errors.New("invalid pod spec")
)

// Defaults for Config's zero values.
const (
	DefaultNetNSDir  = "/run/netns"
	DefaultPidsLimit = 4096
)

// DNSConfig is what the generated /etc/resolv.conf says.
type DNSConfig struct {
	// Nameserver is the agent's DNS server as seen from pods (usually the
	// bridge gateway). Empty: the host's non-loopback nameservers.
	Nameserver string
	// Domain is the cluster's DNS domain as stored in Raft (default
	// cluster.DefaultDomain): pods search <ns>.svc.<domain>, svc.<domain>
	// and <domain>, and a StatefulSet pod's hosts file names it.
	Domain string
	// SearchDomains come after the cluster ones.
	SearchDomains []string
}

// CNIConfig is the pod network of this node.
type CNIConfig struct {
	// BinDirs hold the CNI plugins (default /usr/lib/cni, /opt/cni/bin).
	BinDirs []string
	// BridgeName is the node's pod bridge (default shoal0).
	BridgeName string
	// PodCIDR is the node's pod subnet, e.g. 10.88.1.0/24 (required).
	PodCIDR string
	// ClusterCIDR holds every node's pod subnet, e.g. 10.88.0.0/16. When
	// set, pod traffic to it keeps the pod IP and only traffic leaving it
	// is masqueraded (see natRules); empty: the bridge plugin masquerades
	// everything leaving PodCIDR.
	ClusterCIDR string
}

// Config configures a Runtime.
type Config struct {
	// Address is containerd's socket.
	Address string
	// Namespace is the containerd namespace (default "shoal"); agents
	// sharing one containerd each use their own.
	Namespace string
	// DataDir holds pods/<uid>/ and volumes/<ns>/<claim>-<pod>/ (required).
	DataDir string
	CNI     CNIConfig
	// NetNSDir is where pod network namespaces are bind-mounted as
	// shoal-<uid> (default /run/netns, so `ip netns` sees them).
	NetNSDir string
	DNS      DNSConfig
	// InsecureRegistries are host:port served over plain HTTP; loopback
	// and localhost registries always are.
	InsecureRegistries []string
	// Snapshotter is containerd's snapshotter ("" = containerd's default).
	Snapshotter string
	// PidsLimit caps processes per container (default 4096, -1 = none).
	PidsLimit int64
	// SeccompDir holds the seccomp profiles (OCI JSON) that a
	// securityContext's seccompProfile of type Localhost names, by a path
	// relative to it (default <DataDir>/seccomp).
	SeccompDir string
	// GPUSpec, when set, gives the spec options exposing the pod's GPUs
	// (none for most pods); it is applied last.
	GPUSpec func(gpuIDs []string) oci.SpecOpts
	Logger  *slog.Logger
}

// Runtime runs pods on containerd. It is safe for concurrent use; calls
// for one pod are expected from one goroutine (the node reconciler's pod
// loop), calls for different pods run in parallel.
type Runtime struct {
	cfg    Config
	client *client.Client
	cni    *network
	logger *slog.Logger

	mu   sync.Mutex
	oomd map[string]bool // container ID → OOM event seen for its current task

	pulls sync.Map // image ref → *sync.Mutex serialising its pulls
	// images holds what was read of unpacked images (imagecache.go).
	images imageCache
	// pulledWith records which credentials may use a private image.
	pulledWith credentialRecords

	cancel context.CancelFunc
	done   chan struct{}
}

// New connects to containerd and prepares the pod network configuration.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = cluster.DefaultContainerdNamespace
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = DefaultNetNSDir
	}
	if len(cfg.CNI.BinDirs) == 0 {
		cfg.CNI.BinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.CNI.BridgeName == "" {
		cfg.CNI.BridgeName = cluster.DefaultBridgeName
	}
	if cfg.DNS.Domain == "" {
		cfg.DNS.Domain = cluster.DefaultDomain
	}
	if cfg.PidsLimit == 0 {
		cfg.PidsLimit = DefaultPidsLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DataDir == "" || cfg.Address == "" {
		return nil, fmt.Errorf("new runtime: Address and DataDir are required")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("new runtime: %w", err)
	}
	cfg.DataDir = dataDir
	if cfg.SeccompDir == "" {
		cfg.SeccompDir = filepath.Join(cfg.DataDir, "seccomp")
	}
	for _, d := range []string{"pods", "volumes", "cni", cfg.NetNSDir} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(cfg.DataDir, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("new runtime: %w", err)
		}
	}
	netw, err := newNetwork(cfg)
	if err != nil {
		return nil, fmt.Errorf("new runtime: %w", err)
	}
	c, err := client.New(cfg.Address, client.WithDefaultNamespace(cfg.Namespace))
	if err != nil {
		return nil, fmt.Errorf("new runtime: connect to containerd %s: %w", cfg.Address, err)
	}
	r := &Runtime{
		cfg:    cfg,
		client: c,
		cni:    netw,
		logger: cfg.Logger.With("component", "runtime"),
		oomd:   map[string]bool{},
		done:   make(chan struct{}),
	}
	wctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.watchOOM(wctx)
	return r, nil
}

// Close stops watching events and disconnects from containerd; pods keep
// running.
func (r *Runtime) Close() error {
	r.cancel()
	<-r.done
	return r.client.Close()
}

// Healthy asks containerd for its version: a cheap call that fails at once
// when containerd is gone and runs into ctx's deadline when it hangs.
func (r *Runtime) Healthy(ctx context.Context) error {
	if _, err := r.client.Version(ctx); err != nil {
		return fmt.Errorf("containerd at %s: %w", r.cfg.Address, err)
	}
	return nil
}

// Reconnect makes the client dial containerd now instead of at the end of
// its reconnection back-off (up to 10 s): for right after containerd was
// restarted on the same socket. Calls in flight are not disturbed.
func (r *Runtime) Reconnect() {
	if cc, ok := r.client.Conn().(*grpc.ClientConn); ok {
		cc.ResetConnectBackoff()
	}
}

// Client is the containerd client (tests and the agent's diagnostics).
func (r *Runtime) Client() *client.Client { return r.client }

// Namespace is the containerd namespace this runtime works in.
func (r *Runtime) Namespace() string { return r.cfg.Namespace }

func (r *Runtime) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// podDir is where a pod's emptyDirs, logs and generated files live.
func (r *Runtime) podDir(uid string) string {
	return filepath.Join(r.cfg.DataDir, "pods", uid)
}

func (r *Runtime) logPath(uid, container string) string {
	return filepath.Join(r.podDir(uid), "logs", container+".log")
}

// ClaimDir is where a pod's claim keeps its data on this node:
// volumes/<ns>/<claim>-<pod>/ for a StatefulSet's (as Kubernetes names the
// PVC "data-db-0"; the pod name is stable, so the data follows db-0 from
// one incarnation to the next), volumes/<ns>/pvc_<claim>/ for a standalone
// PersistentVolumeClaim (cluster.ClaimSource.DirName). It outlives the pod.
func (r *Runtime) ClaimDir(namespace string, claim *cluster.ClaimSource, podName string) string {
	return filepath.Join(r.cfg.DataDir, "volumes", namespace, claim.DirName(podName))
}

// maxIDLen is containerd's limit on identifiers.
const maxIDLen = 76

// ContainerID is the deterministic containerd ID of a pod's container:
// the first 12 characters of the pod UID and the container name, so an
// agent finds its containers again without a lookup table.
func ContainerID(podUID, container string) string {
	prefix := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, podUID)
	if len(prefix) > 12 {
		prefix = prefix[:12]
	}
	id := prefix + "-" + container
	if len(id) > maxIDLen {
		sum := sha256.Sum256([]byte(container))
		id = id[:maxIDLen-9] + "-" + hex.EncodeToString(sum[:4])
	}
	return id
}

// validName keeps user-supplied names (pod UIDs, container and volume names)
// from escaping the directories built from them.
func validName(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("%w: bad name %q", ErrInvalid, s)
	}
	return nil
}
