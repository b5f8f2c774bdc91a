// Package testenv gives tests the real things they need — root, a private
// containerd, a local registry — and cleans up everything it starts.
//
// Without root (or the binaries) tests skip, except when CI=true, where a
// missing prerequisite is a failure: CI must never pass by skipping.
package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"

	"shoal/runtime"
)

// CI reports whether the tests run in CI (env CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// unavailable skips the test, or fails it in CI.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if CI() {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// RequireRoot skips the test unless it runs as root (fails under CI=true).
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		unavailable(tb, "testenv: needs root")
	}
}

// RequireBinary skips the test unless name is on PATH (fails under CI=true)
// and returns its path.
func RequireBinary(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		unavailable(tb, "testenv: %s not installed: %v", name, err)
	}
	return p
}

// Logger is a slog.Logger writing to the test's log.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Containerd starts a private containerd under a temporary directory and
// returns its socket address. At cleanup every task and container in every
// namespace is killed and deleted (so no shim outlives the test), then
// containerd is stopped and leftover mounts under its directory unmounted.
func Containerd(tb testing.TB) string {
	tb.Helper()
	RequireRoot(tb)
	RequireBinary(tb, "containerd")
	RequireBinary(tb, "runc")
	dir, err := os.MkdirTemp("", "shoal-containerd-")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cd, err := runtime.StartContainerd(ctx, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if err := purgeContainerd(cd.Address()); err != nil {
			tb.Logf("testenv: purge containerd: %v", err)
		}
		if err := cd.Stop(); err != nil {
			tb.Logf("testenv: %v", err)
		}
		UnmountUnder(tb, dir)
		if err := os.RemoveAll(dir); err != nil {
			tb.Logf("testenv: remove %s: %v", dir, err)
		}
	})
	return cd.Address()
}

// purgeContainerd kills and deletes every task and container containerd
// holds: shims outlive containerd, and a test must leave no process.
func purgeContainerd(address string) error {
	c, err := client.New(address)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctrs, err := c.Containers(nctx)
		if err != nil {
			return err
		}
		for _, ctr := range ctrs {
			if task, err := ctr.Task(nctx, nil); err == nil {
				_ = task.Kill(nctx, syscall.SIGKILL, client.WithKillAll)
				if _, err := task.Delete(nctx, client.WithProcessKill); err != nil {
					return fmt.Errorf("delete task %s/%s: %w", ns, ctr.ID(), err)
				}
			}
			if err := ctr.Delete(nctx, client.WithSnapshotCleanup); err != nil {
				return fmt.Errorf("delete container %s/%s: %w", ns, ctr.ID(), err)
			}
		}
	}
	return nil
}

// UnmountUnder lazily unmounts every mount point below dir, deepest first.
func UnmountUnder(tb testing.TB, dir string) {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mps = append(mps, f[4])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- { // mountinfo lists parents first
		if err := unix.Unmount(mps[i], unix.MNT_DETACH); err != nil {
			tb.Logf("testenv: unmount %s: %v", mps[i], err)
		}
	}
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago for
// both TCP and UDP (gossip and DNS listen on both with one number), and
// that it never returned before in this process: the port is closed
// before the caller uses it, so the kernel may hand it out again at once,
// and one agent got the same number for its API and its gossip.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = u.Close()
		if _, seen := givenPorts.LoadOrStore(port, true); !seen {
			return port
		}
	}
	tb.Fatal("no port free for both TCP and UDP on 127.0.0.1")
	return 0
}

// givenPorts holds every port FreePort returned.
var givenPorts sync.Map

// registryConfig is a minimal distribution (docker-registry) config.
const registryConfig = `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`

// registryAuth turns on HTTP basic auth against an htpasswd file.
const registryAuth = `auth:
  htpasswd:
    realm: shoal-test
    path: %s
`

// RegistryOption configures Registry.
type RegistryOption func(*registryOptions)

type registryOptions struct {
	users map[string]string // user → password
}

// WithBasicAuth makes the registry ask for HTTP basic auth (an htpasswd
// file, bcrypt as docker-registry requires) for every request, pulls
// included, and accept user with password. It still speaks plain HTTP on
// loopback, as the runtime does with loopback registries.
func WithBasicAuth(user, password string) RegistryOption {
	return func(o *registryOptions) {
		if o.users == nil {
			o.users = map[string]string{}
		}
		o.users[user] = password
	}
}

// Registry runs Debian's docker-registry on 127.0.0.1 with storage in a
// temporary directory and returns its host:port. It is stopped at cleanup.
func Registry(tb testing.TB, opts ...RegistryOption) string {
	tb.Helper()
	bin := RequireBinary(tb, "docker-registry")
	var o registryOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir := tb.TempDir()
	config := registryConfig
	ready := http.StatusOK
	if len(o.users) > 0 {
		htpasswd := filepath.Join(dir, "htpasswd")
		writeHtpasswd(tb, htpasswd, o.users)
		config += fmt.Sprintf(registryAuth, htpasswd)
		// Without credentials /v2/ answers 401 once it serves.
		ready = http.StatusUnauthorized
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		addr := fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
		cfg := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, config, filepath.Join(dir, "data"), addr), 0o644); err != nil {
			tb.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, "registry.log"))
		if err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfg)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			tb.Fatalf("testenv: start registry: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if lastErr = waitHTTP(addr, ready, exited); lastErr == nil {
			tb.Cleanup(stop)
			return addr
		}
		stop()
		log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
		lastErr = fmt.Errorf("%w; log:\n%s", lastErr, log)
	}
	tb.Fatalf("testenv: registry: %v", lastErr)
	return ""
}

// writeHtpasswd writes user:bcrypt(password) lines, the only hash
// docker-registry's htpasswd accepts.
func writeHtpasswd(tb testing.TB, path string, users map[string]string) {
	tb.Helper()
	var b strings.Builder
	for _, user := range slices.Sorted(maps.Keys(users)) {
		hash, err := bcrypt.GenerateFromPassword([]byte(users[user]), bcrypt.MinCost)
		if err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", user, hash)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// waitHTTP waits until the registry on addr answers /v2/ with status want.
func waitHTTP(addr string, want int, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		resp, err := hc.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("registry exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("registry on %s not ready", addr)
}

// PushImage copies an OCI archive to ref (e.g. "127.0.0.1:5000/busybox:test")
// with skopeo, over plain HTTP.
func PushImage(tb testing.TB, archive, ref string) {
	tb.Helper()
	pushImage(tb, archive, ref)
}

// PushImageAs is PushImage to a registry that asks for credentials.
func PushImageAs(tb testing.TB, archive, ref, user, password string) {
	tb.Helper()
	pushImage(tb, archive, ref, "--dest-creds", user+":"+password)
}

func pushImage(tb testing.TB, archive, ref string, flags ...string) {
	tb.Helper()
	bin := RequireBinary(tb, "skopeo")
	args := append([]string{"--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"}, flags...)
	out, err := exec.Command(bin, append(args, "oci-archive:"+archive, "docker://"+ref)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("testenv: skopeo copy to %s: %v\n%s", ref, err, out)
	}
}

// Bridge returns a bridge name unique to this test process and removes the
// link (by that name) at cleanup; CNI creates it on the first pod.
func Bridge(tb testing.TB) string {
	tb.Helper()
	name := "sht" + bridgeSeq()
	tb.Cleanup(func() {
		DeleteLink(tb, name)
		// The agent leaves its NAT chains in place for the pods it may still
		// run; the test's bridge is gone for good, so they go too.
		if err := runtime.ClearBridgeNAT(context.Background(), name); err != nil {
			tb.Logf("cleanup: NAT rules of bridge %s: %v", name, err)
		}
	})
	return name
}

// DeleteLink removes a network link by name if it exists.
func DeleteLink(tb testing.TB, name string) {
	tb.Helper()
	if _, err := net.InterfaceByName(name); err != nil {
		return
	}
	if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
		tb.Logf("testenv: ip link del %s: %v: %s", name, err, out)
	}
}

var linkSeq atomic.Int64

func bridgeSeq() string {
	return fmt.Sprintf("%d-%d", os.Getpid()%1000000, linkSeq.Add(1)%1000)
}

// ClusterCIDR returns a /20 (room for 16 nodes' /24s) in 10.216.0.0/13
// that no host route overlaps yet, for multi-agent tests; chosen like
// PodCIDR.
func ClusterCIDR(tb testing.TB) string {
	tb.Helper()
	routes := hostRoutes(tb)
	start := (os.Getpid()*37 + int(linkSeq.Add(1))*5) % 128
	for i := range 128 {
		n := (start + i) % 128
		a, b := 216+n/16, (n%16)*16
		free := true
		for third := b; third < b+16 && free; third++ {
			free = !strings.Contains(routes, fmt.Sprintf("10.%d.%d.", a, third))
		}
		if free {
			return fmt.Sprintf("10.%d.%d.0/20", a, b)
		}
	}
	tb.Fatal("testenv: no free cluster CIDR")
	return ""
}

// ServiceCIDR returns a /24 for a test agent's Service virtual IPs
// (10.224.0.0/13 and up, apart from PodCIDR's and ClusterCIDR's ranges)
// that no route of the host uses: agents on the host's own network share
// its nat table, so two tests' clusters must not hand out the same IPs.
func ServiceCIDR(tb testing.TB) string {
	tb.Helper()
	routes := hostRoutes(tb)
	start := (os.Getpid()*113 + int(linkSeq.Add(1))*7) % 2048
	for i := range 2048 {
		n := (start + i) % 2048
		cidr := fmt.Sprintf("10.%d.%d.0/24", 224+n/256, n%256)
		if !strings.Contains(routes, cidr) {
			return cidr
		}
	}
	tb.Fatal("testenv: no free service CIDR")
	return ""
}

func hostRoutes(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		tb.Fatalf("testenv: ip route: %v", err)
	}
	return string(out)
}

// PodCIDR returns a /24 in 10.200.0.0/13 that no route on the host uses
// yet, so tests in parallel binaries (and other agents' bridges) do not
// collide. The choice is spread by PID to make races between binaries
// unlikely.
func PodCIDR(tb testing.TB) string {
	tb.Helper()
	routes := hostRoutes(tb)
	start := (os.Getpid()*131 + int(linkSeq.Add(1))*17) % 2048
	for i := range 2048 {
		n := (start + i) % 2048
		cidr := fmt.Sprintf("10.%d.%d.0/24", 200+n/256, n%256)
		if !strings.Contains(routes, cidr) {
			return cidr
		}
	}
	tb.Fatal("testenv: no free pod CIDR")
	return ""
}
