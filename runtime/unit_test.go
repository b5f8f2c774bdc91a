package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"

	"shoal/cluster"
	"shoal/pullauth"
	"shoal/runtime/rtapi"
)

func TestContainerIDDeterministicAndValid(t *testing.T) {
	uid := "0f8a4c2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
	if got := ContainerID(uid, "web"); got != "0f8a4c2e1b3d-web" {
		t.Errorf("ContainerID = %q", got)
	}
	long := ContainerID(uid, strings.Repeat("x", 63))
	if len(long) > maxIDLen || long != ContainerID(uid, strings.Repeat("x", 63)) {
		t.Errorf("long ID %q (%d chars)", long, len(long))
	}
	if ContainerID(uid, strings.Repeat("x", 63)) == ContainerID(uid, strings.Repeat("x", 62)+"y") {
		t.Error("truncated IDs collide")
	}
}

func TestGeneration(t *testing.T) {
	c := cluster.Container{Name: "a", Image: "busybox"}
	pod := &cluster.Pod{}
	g := Generation(pod, c)
	c2 := c
	c2.Args = []string{"x"}
	if g == Generation(pod, c2) || g != Generation(pod, c) {
		t.Error("generation must follow the container spec")
	}
	pod.TemplateHash = "abc"
	if Generation(pod, c) != "abc" {
		t.Error("template hash wins")
	}
}

func TestResolvConf(t *testing.T) {
	str := func(s string) *string { return &s }
	cfg := DNSConfig{Nameserver: "10.88.1.1", Domain: "cluster.local", SearchDomains: []string{"corp"}}
	host := resolver{nameservers: []string{"192.0.2.1", "192.0.2.2"}, searches: []string{"lan"}, options: []string{"ndots:1", "edns0"}}
	tests := []struct {
		name string
		spec cluster.PodSpec
		cfg  DNSConfig
		want string
	}{
		{name: "ClusterFirst", cfg: cfg,
			want: "search prod.svc.cluster.local svc.cluster.local cluster.local corp\nnameserver 10.88.1.1\noptions ndots:5\n"},
		{name: "the cluster's domain", cfg: DNSConfig{Nameserver: "10.88.1.1", Domain: "shoal.example"},
			want: "search prod.svc.shoal.example svc.shoal.example shoal.example\nnameserver 10.88.1.1\noptions ndots:5\n"},
		{name: "ClusterFirst without a DNS server for pods", cfg: DNSConfig{Domain: "cluster.local"},
			want: "search prod.svc.cluster.local svc.cluster.local cluster.local\nnameserver 192.0.2.1\nnameserver 192.0.2.2\noptions ndots:5\n"},
		{name: "ClusterFirstWithHostNet", cfg: cfg, spec: cluster.PodSpec{DNSPolicy: cluster.DNSClusterFirstWithHostNet},
			want: "search prod.svc.cluster.local svc.cluster.local cluster.local corp\nnameserver 10.88.1.1\noptions ndots:5\n"},
		{name: "Default", cfg: cfg, spec: cluster.PodSpec{DNSPolicy: cluster.DNSDefault},
			want: "search lan\nnameserver 192.0.2.1\nnameserver 192.0.2.2\noptions ndots:1 edns0\n"},
		{name: "None", cfg: cfg, spec: cluster.PodSpec{DNSPolicy: cluster.DNSNone, DNSConfig: &cluster.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []cluster.PodDNSOption{{Name: "ndots", Value: str("2")}}}},
			want: "search a.example\nnameserver 1.1.1.1\noptions ndots:2\n"},
		{name: "dnsConfig appended to ClusterFirst", cfg: cfg, spec: cluster.PodSpec{DNSConfig: &cluster.PodDNSConfig{
			Nameservers: []string{"10.88.1.1", "1.1.1.1"}, Searches: []string{"corp", "a.example"},
			Options: []cluster.PodDNSOption{{Name: "ndots", Value: str("2")}, {Name: "edns0"}}}},
			want: "search prod.svc.cluster.local svc.cluster.local cluster.local corp a.example\nnameserver 10.88.1.1\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"},
		{name: "nameservers past three dropped", cfg: cfg, spec: cluster.PodSpec{DNSPolicy: cluster.DNSDefault, DNSConfig: &cluster.PodDNSConfig{
			Nameservers: []string{"1.1.1.1", "8.8.8.8"}}},
			want: "search lan\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 1.1.1.1\noptions ndots:1 edns0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := podResolver(&tt.spec, "prod", tt.cfg, func() resolver { return host }).String()
			if got != tt.want {
				t.Errorf("resolv.conf:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestHostResolver(t *testing.T) {
	dir := t.TempDir()
	stub := filepath.Join(dir, "stub.conf")
	os.WriteFile(stub, []byte("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"), 0o644)
	upstream := filepath.Join(dir, "upstream.conf")
	os.WriteFile(upstream, []byte("# x\nnameserver 192.0.2.1\nnameserver ::1\ndomain home\nsearch lan corp\n"), 0o644)
	if c := hostResolver(stub, upstream); fmt.Sprint(c) != fmt.Sprint(resolver{nameservers: []string{"192.0.2.1"}, searches: []string{"lan", "corp"}}) {
		t.Errorf("stub resolver, then upstream: %+v (loopback nameservers must be dropped)", c)
	}
	if c := hostResolver(stub, filepath.Join(dir, "missing")); len(c.nameservers) != 0 || fmt.Sprint(c.searches) != "[lan]" {
		t.Errorf("only a stub: %+v", c)
	}
}

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		path, typ string
		ok        bool
	}{
		{dir, "Directory", true},
		{file, "Directory", false},
		{file, "File", true},
		{filepath.Join(dir, "missing"), "File", false},
		{filepath.Join(dir, "missing"), "", true},
		{filepath.Join(dir, "new", "d"), "DirectoryOrCreate", true},
		{filepath.Join(dir, "new2", "f"), "FileOrCreate", true},
		{dir, "Socket", false},
		{"relative", "", false},
		{dir, "Bogus", false},
	} {
		err := checkHostPath(&cluster.HostPathSource{Path: tc.path, Type: tc.typ})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s %q: %v", tc.path, tc.typ, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "new2", "f")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("FileOrCreate: %v", err)
	}
}

func TestNetworkConfig(t *testing.T) {
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "firewall"), nil, 0o755)
	n, err := newNetwork(Config{DataDir: "/data", CNI: CNIConfig{BinDirs: []string{bin}, BridgeName: "br9", PodCIDR: "10.88.7.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string           `json:"name"`
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(n.conf, &conf); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, p := range conf.Plugins {
		types = append(types, p["type"].(string))
	}
	if conf.Name != "shoal-br9" || strings.Join(types, ",") != "bridge,portmap,firewall" {
		t.Errorf("conflist %s", n.conf)
	}
	if !strings.Contains(string(n.conf), `"subnet":"10.88.7.0/24"`) || !strings.Contains(string(n.conf), `"dataDir":"/data/cni/ipam"`) {
		t.Errorf("ipam: %s", n.conf)
	}
	if _, err := newNetwork(Config{CNI: CNIConfig{PodCIDR: "nope"}}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

// With a cluster CIDR the node's own FORWARD rules cover what the
// firewall plugin would add per pod: pods are set up without it, and
// without portmap when they publish no host port.
func TestLeanPlugins(t *testing.T) {
	plugins := []map[string]any{{"type": "bridge"}, {"type": "portmap"}, {"type": "firewall"}}
	for _, tc := range []struct {
		k    leanKey
		want string
	}{
		{leanKey{ports: false}, "bridge"},
		{leanKey{ports: true}, "bridge,portmap"},
	} {
		var types []string
		for _, p := range leanPlugins(plugins, tc.k) {
			types = append(types, p["type"].(string))
		}
		if got := strings.Join(types, ","); got != tc.want {
			t.Errorf("leanPlugins(%+v) = %s, want %s", tc.k, got, tc.want)
		}
	}
	if len(plugins) != 3 {
		t.Errorf("leanPlugins changed its input: %v", plugins)
	}
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "firewall"), nil, 0o755)
	for _, cidr := range []string{"", "10.88.0.0/16"} {
		n, err := newNetwork(Config{DataDir: "/data", CNI: CNIConfig{BinDirs: []string{bin}, BridgeName: "br9", PodCIDR: "10.88.7.0/24", ClusterCIDR: cidr}})
		if err != nil {
			t.Fatal(err)
		}
		if (n.lean != nil) != (cidr != "") || (n.lean != nil && len(n.lean) != 2) {
			t.Errorf("cluster CIDR %q: lean lists %v", cidr, n.lean)
		}
		if !strings.Contains(string(n.conf), `"firewall"`) {
			t.Errorf("cluster CIDR %q: teardown list without the firewall: %s", cidr, n.conf)
		}
	}
}

func TestHostPorts(t *testing.T) {
	pod := &cluster.Pod{Spec: cluster.PodSpec{Containers: []cluster.Container{{
		Ports: []cluster.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 53, HostPort: 5353, Protocol: "UDP"}, {ContainerPort: 9090}},
	}}}}
	got := hostPorts(pod)
	if len(got) != 2 || got[0].Protocol != "tcp" || got[1].Protocol != "udp" || got[1].HostPort != 5353 {
		t.Errorf("hostPorts %+v", got)
	}
}

func TestPlainHTTPRegistries(t *testing.T) {
	for ref, want := range map[string]string{
		"busybox":                  "docker.io/library/busybox:latest",
		"127.0.0.1:5000/x/y:t":     "127.0.0.1:5000/x/y:t",
		"shoal.local/busybox:test": "shoal.local/busybox:test",
	} {
		if got, err := NormalizeImage(ref); err != nil || got != want {
			t.Errorf("NormalizeImage(%q) = %q, %v", ref, got, err)
		}
	}
	if _, err := NormalizeImage("bad ref!"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad ref: %v", err)
	}
	r := &Runtime{cfg: Config{InsecureRegistries: []string{"reg.lan:5000", "other.lan"}}}
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.1.2.3:80": true, "localhost:5000": true, "[::1]:5000": true,
		"reg.lan:5000": true, "other.lan:443": true, "reg.lan:6000": false, "docker.io": false, "10.0.0.1:5000": false,
	} {
		if got := r.plainHTTP(host); got != want {
			t.Errorf("plainHTTP(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestCredentialsFor(t *testing.T) {
	alice := &pullauth.Credential{Username: "alice", Password: "pw", Source: "s"}
	token := &pullauth.Credential{Username: "00000000-0000-0000-0000-000000000000", IdentityToken: "refresh", Source: "s"}
	tests := []struct {
		registry, host string
		cred           *pullauth.Credential
		user, secret   string
	}{
		{"127.0.0.1:5000", "127.0.0.1:5000", alice, "alice", "pw"},
		{"127.0.0.1:5000", "127.0.0.1:5001", alice, "", ""},
		{"127.0.0.1:5000", "blobs.example.com", alice, "", ""},
		{"docker.io", "registry-1.docker.io", alice, "alice", "pw"},
		{"docker.io", "docker.io", alice, "alice", "pw"},
		{"ghcr.io", "registry-1.docker.io", alice, "", ""},
		{"r.example.com", "r.example.com", token, "", "refresh"},
		{"r.example.com", "r.example.com", nil, "", ""},
	}
	for _, tt := range tests {
		user, secret, err := credentialsFor(tt.registry, tt.cred)(tt.host)
		if err != nil || user != tt.user || secret != tt.secret {
			t.Errorf("credentialsFor(%s, %v)(%s) = %q, %q, %v; want %q, %q", tt.registry, tt.cred, tt.host, user, secret, err, tt.user, tt.secret)
		}
	}
}

// Without a credential a Basic challenge stays unanswered (the registry's
// 401 is the error) while a Bearer challenge gets an anonymous token; with
// one, both are answered.
func TestChallengeAuthorizer(t *testing.T) {
	challenge := func(h string) []*http.Response {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:5000/v2/x/manifests/1", nil)
		return []*http.Response{{StatusCode: http.StatusUnauthorized, Request: req, Header: http.Header{"Www-Authenticate": {h}}}}
	}
	basic := challenge(`Basic realm="shoal-test"`)
	bearer := challenge(`Bearer realm="http://127.0.0.1:5000/token",service="r"`)
	cred := &pullauth.Credential{Username: "u", Password: "p"}
	tests := []struct {
		name    string
		cred    *pullauth.Credential
		resp    []*http.Response
		unknown bool // errdefs.ErrNotImplemented: the 401 stands
	}{
		{"anonymous, basic", nil, basic, true},
		{"anonymous, bearer", nil, bearer, false},
		{"credential, basic", cred, basic, false},
		{"credential, bearer", cred, bearer, false},
	}
	for _, tt := range tests {
		a := challengeAuthorizer{
			Authorizer: docker.NewDockerAuthorizer(docker.WithAuthCreds(credentialsFor("127.0.0.1:5000", tt.cred))),
			basic:      tt.cred != nil,
		}
		err := a.AddResponses(context.Background(), tt.resp)
		if errdefs.IsNotImplemented(err) != tt.unknown || (!tt.unknown && err != nil) {
			t.Errorf("%s: AddResponses = %v, want unanswered %v", tt.name, err, tt.unknown)
		}
	}
}

func TestCredentialRecords(t *testing.T) {
	const ref, other = "r:5000/app:1", "r:5000/other:1"
	alice := pullauth.Credential{Username: "alice", Password: "pw", Source: "secret a/reg"}
	aliceElsewhere := alice
	aliceElsewhere.Source = "secret b/reg"
	aliceOld := alice
	aliceOld.Password = "old"
	token := pullauth.Credential{IdentityToken: "t"}
	var c credentialRecords
	c.add(ref, alice)
	c.add(ref, token)
	tests := []struct {
		name  string
		ref   string
		creds []pullauth.Credential
		want  bool
	}{
		{"the credential", ref, []pullauth.Credential{alice}, true},
		{"the same login from another Secret", ref, []pullauth.Credential{aliceElsewhere}, true},
		{"among others", ref, []pullauth.Credential{aliceOld, token}, true},
		{"another password", ref, []pullauth.Credential{aliceOld}, false},
		{"none", ref, nil, false},
		{"another image", other, []pullauth.Credential{alice}, false},
	}
	for _, tt := range tests {
		if got := c.has(tt.ref, tt.creds); got != tt.want {
			t.Errorf("%s: has = %v, want %v", tt.name, got, tt.want)
		}
	}
	c.forget(ref)
	if c.has(ref, []pullauth.Credential{alice}) {
		t.Error("records kept after forget")
	}
}

func TestLimits(t *testing.T) {
	r := &Runtime{cfg: Config{PidsLimit: 100}}
	if n := len(r.limits(cluster.Container{})); n != 1 {
		t.Errorf("no limits: %d opts, want only pids", n)
	}
	if n := len(r.limits(cluster.Container{Limits: cluster.Resources{MilliCPU: 500, Memory: 1 << 20}})); n != 4 {
		t.Errorf("cpu+memory: %d opts, want memory, quota, shares, pids", n)
	}
}

// TestUnanswered: only the runtime's silence (a deadline, an unreachable
// containerd) marks an exec as never started; an answer such as "not
// found" or an OCI error stays the container's.
func TestUnanswered(t *testing.T) {
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"context deadline", live, fmt.Errorf("task: %w", context.DeadlineExceeded), true},
		{"unavailable", live, errdefs.ErrUnavailable, true},
		{"caller's context ended", expired, errors.New("rpc error"), true},
		{"not found", live, fmt.Errorf("%w: container", ErrNotFound), false},
		{"oci error", live, errors.New(`exec: "nope": executable file not found in $PATH`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := unanswered(tt.ctx, tt.err)
			if got := errors.Is(err, rtapi.ErrRuntimeUnresponsive); got != tt.want {
				t.Errorf("unanswered(%v) = %v, marked %v, want %v", tt.err, err, got, tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("unanswered(%v) = %v lost the cause", tt.err, err)
			}
		})
	}
}

// requireRoot skips a test that needs root, or fails it under CI=true,
// where a missing root hides a broken main. (testenv says the same, but
// imports this package.)
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root to " + why)
	}
	t.Skip("needs root to " + why)
}
