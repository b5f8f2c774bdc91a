package podconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"testing"

	"shoal/cluster"
	"shoal/runtime/rtapi"
	"shoal/seal"
)

// fixture is a state with a ConfigMap, a sealed Secret and two Services
// in namespace "prod", and a pod there.
type fixture struct {
	keys *seal.Keyring
	st   *cluster.State
	pod  *cluster.Pod
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keys := seal.InMemory(key)
	sealed, err := keys.Seal(key.ID, "prod", "db", map[string][]byte{
		"password": []byte("s3cret"), "user": []byte("app"), "bad-name=": []byte("x"),
	})
	if err != nil {
		t.Fatal(err)
	}
	txn := cluster.Empty().Txn(1)
	txn.SetConfig(cluster.Config{Domain: "example.internal"})
	txn.PutObject(&cluster.Object{Kind: cluster.KindConfigMap, Namespace: "prod", Name: "app",
		Data:       map[string]string{"level": "debug", "app.conf": "a=1\n", "1st": "skipped", "dotted.key": "ok"},
		BinaryData: map[string][]byte{"logo.png": {0x89, 'P', 'N', 'G'}}})
	txn.PutObject(&cluster.Object{Kind: cluster.KindSecret, Namespace: "prod", Name: "db", Sealed: sealed,
		SecretKeys: []string{"bad-name=", "password", "user"}})
	// Same names in another namespace: never seen from prod.
	txn.PutObject(&cluster.Object{Kind: cluster.KindConfigMap, Namespace: "other", Name: "only-there", Data: map[string]string{"k": "v"}})
	txn.PutService(&cluster.Service{Namespace: "prod", Name: "redis-primary", ClusterIP: "10.43.0.7", Ports: []cluster.ServicePort{
		{Name: "redis", Port: 6379}, {Name: "metrics", Port: 9121, Protocol: "TCP"}}})
	txn.PutService(&cluster.Service{Namespace: "prod", Name: "dns", ClusterIP: "10.43.0.10", Ports: []cluster.ServicePort{{Port: 53, Protocol: "UDP"}}})
	txn.PutService(&cluster.Service{Namespace: "prod", Name: "headless", ClusterIP: "None", Ports: []cluster.ServicePort{{Port: 1}}})
	txn.PutService(&cluster.Service{Namespace: "other", Name: "elsewhere", ClusterIP: "10.43.0.2", Ports: []cluster.ServicePort{{Port: 2}}})
	// Stored before Shoal had virtual IPs: no links until re-applied.
	txn.PutService(&cluster.Service{Namespace: "prod", Name: "old", Ports: []cluster.ServicePort{{Port: 3}}})
	pod := &cluster.Pod{
		Namespace: "prod", Name: "web-0", UID: "uid-1", NodeName: "n1",
		Labels:      map[string]string{"app": "web", "tier": "front"},
		Annotations: map[string]string{"note": "say \"hi\""},
		Spec: cluster.PodSpec{
			EnableServiceLinks: ptr(false),
			Containers: []cluster.Container{{
				Name: "app", Image: "busybox",
				Requests: cluster.Resources{MilliCPU: 250, Memory: 64 << 20},
				Limits:   cluster.Resources{Memory: 128 << 20, EphemeralStorage: 2 << 30},
			}, {Name: "side", Image: "busybox"}},
		},
	}
	return &fixture{keys: keys, st: txn.Commit(), pod: pod}
}

func (f *fixture) source() *Source {
	return &Source{State: f.st, Pod: f.pod, PodIP: "10.88.1.5", HostIP: "192.0.2.1",
		Allocatable: cluster.Resources{MilliCPU: 4000, Memory: 8 << 30, EphemeralStorage: 100e9}, Secrets: f.keys}
}

func ptr[T any](v T) *T { return &v }

func field(p string) *cluster.EnvVarSource {
	return &cluster.EnvVarSource{FieldRef: &cluster.FieldRef{FieldPath: p}}
}

func res(container, resource string, divisor int64) *cluster.EnvVarSource {
	return &cluster.EnvVarSource{ResourceFieldRef: &cluster.ResourceFieldRef{ContainerName: container, Resource: resource, Divisor: divisor}}
}

func cmKey(name, key string, optional bool) *cluster.EnvVarSource {
	return &cluster.EnvVarSource{ConfigMapKeyRef: &cluster.KeyRef{Name: name, Key: key, Optional: optional}}
}

func secretKey(name, key string, optional bool) *cluster.EnvVarSource {
	return &cluster.EnvVarSource{SecretKeyRef: &cluster.KeyRef{Name: name, Key: key, Optional: optional}}
}

// envString shows an environment as NAME=value lines, in order.
func envString(env []cluster.EnvVar) string {
	var b strings.Builder
	for _, e := range env {
		fmt.Fprintf(&b, "%s=%s\n", e.Name, e.Value)
	}
	return b.String()
}

func TestEnvValueFrom(t *testing.T) {
	tests := []struct {
		name string
		src  *cluster.EnvVarSource
		want string // "" with unset: the variable is left out
		err  string
	}{
		{name: "metadata.name", src: field("metadata.name"), want: "web-0"},
		{name: "metadata.namespace", src: field("metadata.namespace"), want: "prod"},
		{name: "metadata.uid", src: field("metadata.uid"), want: "uid-1"},
		{name: "one label", src: field("metadata.labels['tier']"), want: "front"},
		{name: "a label the pod lacks", src: field("metadata.labels['nope']"), want: ""},
		{name: "one annotation", src: field("metadata.annotations['note']"), want: `say "hi"`},
		{name: "spec.nodeName", src: field("spec.nodeName"), want: "n1"},
		{name: "spec.serviceAccountName", src: field("spec.serviceAccountName"), want: "default"},
		{name: "status.podIP", src: field("status.podIP"), want: "10.88.1.5"},
		{name: "status.podIPs", src: field("status.podIPs"), want: "10.88.1.5"},
		{name: "status.hostIP", src: field("status.hostIP"), want: "192.0.2.1"},
		{name: "status.hostIPs", src: field("status.hostIPs"), want: "192.0.2.1"},
		{name: "requests.cpu in cores, rounded up", src: res("", "requests.cpu", 0), want: "1"},
		{name: "requests.cpu in millicores", src: res("", "requests.cpu", 1), want: "250"},
		{name: "limits.cpu unset: the node's", src: res("", "limits.cpu", 0), want: "4"},
		{name: "limits.memory in Mi", src: res("", "limits.memory", 1<<20), want: "128"},
		{name: "requests.memory in bytes", src: res("", "requests.memory", 0), want: "67108864"},
		{name: "another container's unset memory limit", src: res("side", "limits.memory", 1<<30), want: "8"},
		{name: "another container's unset request", src: res("side", "requests.cpu", 1), want: "0"},
		{name: "limits.ephemeral-storage in Gi", src: res("", "limits.ephemeral-storage", 1<<30), want: "2"},
		{name: "unset ephemeral-storage limit: the node's, in G", src: res("side", "limits.ephemeral-storage", 1e9), want: "100"},
		{name: "unset ephemeral-storage request", src: res("", "requests.ephemeral-storage", 0), want: "0"},
		{name: "no such container", src: res("ghost", "limits.cpu", 0), err: `resourceFieldRef: container "ghost" not found in pod prod/web-0`},
		{name: "configmap key", src: cmKey("app", "level", false), want: "debug"},
		{name: "configmap missing", src: cmKey("nope", "level", false), err: `configmap "nope" not found`},
		{name: "configmap of another namespace", src: cmKey("only-there", "k", false), err: `configmap "only-there" not found`},
		{name: "configmap missing, optional", src: cmKey("nope", "level", true)},
		{name: "configmap key missing", src: cmKey("app", "nope", false), err: "couldn't find key nope in ConfigMap prod/app"},
		{name: "configmap key missing, optional", src: cmKey("app", "nope", true)},
		{name: "binary data is not for env", src: cmKey("app", "logo.png", false), err: "couldn't find key logo.png in ConfigMap prod/app"},
		{name: "secret key", src: secretKey("db", "password", false), want: "s3cret"},
		{name: "secret missing", src: secretKey("nope", "password", false), err: `secret "nope" not found`},
		{name: "secret missing, optional", src: secretKey("nope", "password", true)},
		{name: "secret key missing", src: secretKey("db", "nope", false), err: "couldn't find key nope in Secret prod/db"},
		{name: "secret key missing, optional", src: secretKey("db", "nope", true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.pod.Spec.Containers[0]
			c.Env = []cluster.EnvVar{{Name: "BEFORE", Value: "1"}, {Name: "V", ValueFrom: tt.src}}
			out, _, err := Container(f.source(), c)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := "BEFORE=1\n"
			if tt.want != "" || !strings.Contains(tt.name, "missing") {
				want += "V=" + tt.want + "\n"
			}
			if got := envString(out.Env); got != want {
				t.Errorf("env:\n%s\nwant\n%s", got, want)
			}
			if out.EnvFrom != nil {
				t.Error("EnvFrom left on the resolved container")
			}
		})
	}
}

func TestMissingIsMissingError(t *testing.T) {
	f := newFixture(t)
	c := f.pod.Spec.Containers[0]
	c.Env = []cluster.EnvVar{{Name: "V", ValueFrom: secretKey("nope", "k", false)}}
	_, _, err := Container(f.source(), c)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T), want a *MissingError", err, err)
	}
	// A Secret that cannot be opened is not missing: it is an error of
	// its own, naming the Secret.
	src := f.source()
	src.Secrets = seal.InMemory()
	c.Env = []cluster.EnvVar{{Name: "V", ValueFrom: secretKey("db", "password", false)}}
	_, _, err = Container(src, c)
	if err == nil || errors.As(err, &me) || !strings.Contains(err.Error(), `secret "db"`) || !errors.Is(err, seal.ErrUnknownKey) {
		t.Errorf("error %v, want one naming the Secret and wrapping seal.ErrUnknownKey", err)
	}
}

func TestEnvFromAndPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		from    []cluster.EnvFromSource
		env     []cluster.EnvVar
		want    string
		skipped string
		err     string
	}{
		{name: "configmap keys, invalid names skipped",
			from:    []cluster.EnvFromSource{{ConfigMapRef: &cluster.ObjectRef{Name: "app"}}},
			want:    "app.conf=a=1\n\ndotted.key=ok\nlevel=debug\n",
			skipped: "1st"},
		{name: "prefix makes a name valid",
			from: []cluster.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &cluster.ObjectRef{Name: "app"}}},
			want: "CFG_1st=skipped\nCFG_app.conf=a=1\n\nCFG_dotted.key=ok\nCFG_level=debug\n"},
		{name: "secret with prefix",
			from:    []cluster.EnvFromSource{{Prefix: "DB_", SecretRef: &cluster.ObjectRef{Name: "db"}}},
			want:    "DB_password=s3cret\nDB_user=app\n",
			skipped: "DB_bad-name="},
		{name: "a later source wins, env wins over all",
			from: []cluster.EnvFromSource{{ConfigMapRef: &cluster.ObjectRef{Name: "app"}}, {Prefix: "lev", SecretRef: &cluster.ObjectRef{Name: "db"}}},
			env:  []cluster.EnvVar{{Name: "level", Value: "info"}},
			want: "app.conf=a=1\n\ndotted.key=ok\nlevel=info\nlevpassword=s3cret\nlevuser=app\n", skipped: "1st,levbad-name="},
		{name: "missing optional sources add nothing",
			from: []cluster.EnvFromSource{{ConfigMapRef: &cluster.ObjectRef{Name: "nope", Optional: true}}, {SecretRef: &cluster.ObjectRef{Name: "nope", Optional: true}}}},
		{name: "missing configmap", from: []cluster.EnvFromSource{{ConfigMapRef: &cluster.ObjectRef{Name: "nope"}}}, err: `configmap "nope" not found`},
		{name: "missing secret", from: []cluster.EnvFromSource{{SecretRef: &cluster.ObjectRef{Name: "nope"}}}, err: `secret "nope" not found`},
		{name: "$(VAR) refers to what was set before",
			env:  []cluster.EnvVar{{Name: "A", Value: "a"}, {Name: "B", Value: "$(A)-$(C)-$$(A)-$(A"}, {Name: "C", Value: "c"}},
			want: "A=a\nB=a-$(C)-$(A)-$(A\nC=c\n"},
		{name: "valueFrom is not expanded",
			env:  []cluster.EnvVar{{Name: "A", Value: "a"}, {Name: "B", ValueFrom: cmKey("app", "level", false)}},
			want: "A=a\nB=debug\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.pod.Spec.Containers[0]
			c.EnvFrom, c.Env = tt.from, tt.env
			out, skipped, err := Container(f.source(), c)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := envString(out.Env); got != tt.want {
				t.Errorf("env:\n%s\nwant\n%s", got, tt.want)
			}
			if got := strings.Join(skipped, ","); got != tt.skipped {
				t.Errorf("skipped %q, want %q", got, tt.skipped)
			}
		})
	}
}

func TestServiceLinksAndCommandExpansion(t *testing.T) {
	f := newFixture(t)
	f.pod.Spec.EnableServiceLinks = nil // Kubernetes' default: on
	c := f.pod.Spec.Containers[0]
	c.Env = []cluster.EnvVar{
		{Name: "DNS_SERVICE_PORT", Value: "mine"}, // the container's own wins
		{Name: "URL", Value: "redis://$(REDIS_PRIMARY_SERVICE_HOST):$(REDIS_PRIMARY_SERVICE_PORT)"},
		{Name: "POD_IP", ValueFrom: field("status.podIP")},
	}
	c.Command = []string{"serve", "--ip=$(POD_IP)", "--price=$$5", "--unknown=$(NOPE)"}
	c.Args = []string{"$(URL)"}
	out, _, err := Container(f.source(), c)
	if err != nil {
		t.Fatal(err)
	}
	host := "10.43.0.7"
	want := "DNS_SERVICE_PORT=mine\n" +
		"URL=redis://" + host + ":6379\n" +
		"POD_IP=10.88.1.5\n" +
		"DNS_PORT=udp://10.43.0.10:53\n" +
		"DNS_PORT_53_UDP=udp://10.43.0.10:53\n" +
		"DNS_PORT_53_UDP_ADDR=10.43.0.10\n" +
		"DNS_PORT_53_UDP_PORT=53\n" +
		"DNS_PORT_53_UDP_PROTO=udp\n" +
		"DNS_SERVICE_HOST=10.43.0.10\n" +
		"REDIS_PRIMARY_PORT=tcp://" + host + ":6379\n" +
		"REDIS_PRIMARY_PORT_6379_TCP=tcp://" + host + ":6379\n" +
		"REDIS_PRIMARY_PORT_6379_TCP_ADDR=" + host + "\n" +
		"REDIS_PRIMARY_PORT_6379_TCP_PORT=6379\n" +
		"REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp\n" +
		"REDIS_PRIMARY_PORT_9121_TCP=tcp://" + host + ":9121\n" +
		"REDIS_PRIMARY_PORT_9121_TCP_ADDR=" + host + "\n" +
		"REDIS_PRIMARY_PORT_9121_TCP_PORT=9121\n" +
		"REDIS_PRIMARY_PORT_9121_TCP_PROTO=tcp\n" +
		"REDIS_PRIMARY_SERVICE_HOST=" + host + "\n" +
		"REDIS_PRIMARY_SERVICE_PORT=6379\n" +
		"REDIS_PRIMARY_SERVICE_PORT_METRICS=9121\n" +
		"REDIS_PRIMARY_SERVICE_PORT_REDIS=6379\n"
	if got := envString(out.Env); got != want {
		t.Errorf("env:\n%s\nwant\n%s", got, want)
	}
	if got, want := strings.Join(append(out.Command, out.Args...), " "),
		"serve --ip=10.88.1.5 --price=$5 --unknown=$(NOPE) redis://"+host+":6379"; got != want {
		t.Errorf("command and args %q, want %q", got, want)
	}
	if c.Command[1] != "--ip=$(POD_IP)" {
		t.Error("the container passed in was changed")
	}

	// Turned off: none of them.
	f.pod.Spec.EnableServiceLinks = ptr(false)
	out, _, err = Container(f.source(), cluster.Container{Name: "app", Env: []cluster.EnvVar{{Name: "X", Value: "$(DNS_SERVICE_HOST)"}}})
	if err != nil || envString(out.Env) != "X=$(DNS_SERVICE_HOST)\n" {
		t.Errorf("service links off: %q %v", envString(out.Env), err)
	}
	if got := serviceEnv(f.st, "other")["ELSEWHERE_SERVICE_HOST"]; got != "10.43.0.2" {
		t.Errorf("other namespace's service host %q", got)
	}
}

func TestExpand(t *testing.T) {
	vars := mapping(map[string]string{"A": "a", "EMPTY": ""})
	for in, want := range map[string]string{
		"":                 "",
		"plain":            "plain",
		"$(A)":             "a",
		"x$(A)y$(A)":       "xaya",
		"$(EMPTY)":         "",
		"$$(A)":            "$(A)",
		"$$$(A)":           "$a",
		"$(B)":             "$(B)",
		"$(A":              "$(A",
		"$A":               "$A",
		"cost: 5$":         "cost: 5$",
		"$()":              "$()",
		"$(A)$(A)$$":       "aa$",
		"nested $($(A))":   "nested $($(A))", // the name is "$(A", unknown
		"unicode é $(A) é": "unicode é a é",
	} {
		if got := Expand(in, vars); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVolumes(t *testing.T) {
	m := func(v int32) *int32 { return &v }
	tests := []struct {
		name string
		vol  cluster.Volume
		want string // path mode content, one per line
		err  string
	}{
		{name: "configmap, every key", vol: cluster.Volume{ConfigMap: &cluster.ConfigMapVolumeSource{
			ConfigMapProjection: cluster.ConfigMapProjection{Name: "app"}, DefaultMode: 0o644}},
			want: "1st 0644 skipped\napp.conf 0644 a=1\\n\ndotted.key 0644 ok\nlevel 0644 debug\nlogo.png 0644 \\x89PNG\n"},
		{name: "configmap items with their own mode", vol: cluster.Volume{ConfigMap: &cluster.ConfigMapVolumeSource{
			ConfigMapProjection: cluster.ConfigMapProjection{Name: "app", Items: []cluster.KeyToPath{
				{Key: "app.conf", Path: "etc//app.conf", Mode: m(0o600)}, {Key: "logo.png", Path: "logo"}}}, DefaultMode: 0o444}},
			want: "etc/app.conf 0600 a=1\\n\nlogo 0444 \\x89PNG\n"},
		{name: "configmap item key missing", vol: cluster.Volume{ConfigMap: &cluster.ConfigMapVolumeSource{
			ConfigMapProjection: cluster.ConfigMapProjection{Name: "app", Items: []cluster.KeyToPath{{Key: "nope", Path: "x"}}}}},
			err: "configmap references non-existent config key: nope"},
		{name: "configmap item key missing, optional", vol: cluster.Volume{ConfigMap: &cluster.ConfigMapVolumeSource{
			ConfigMapProjection: cluster.ConfigMapProjection{Name: "app", Optional: true,
				Items: []cluster.KeyToPath{{Key: "nope", Path: "x"}, {Key: "level", Path: "l"}}}, DefaultMode: 0o644}},
			want: "l 0644 debug\n"},
		{name: "configmap missing", vol: cluster.Volume{ConfigMap: &cluster.ConfigMapVolumeSource{ConfigMapProjection: cluster.ConfigMapProjection{Name: "app-config"}}},
			err: `configmap "app-config" not found`},
		{name: "configmap missing, optional: empty", vol: cluster.Volume{ConfigMap: &cluster.ConfigMapVolumeSource{
			ConfigMapProjection: cluster.ConfigMapProjection{Name: "nope", Optional: true}}}},
		{name: "secret", vol: cluster.Volume{Secret: &cluster.SecretVolumeSource{SecretProjection: cluster.SecretProjection{Name: "db",
			Items: []cluster.KeyToPath{{Key: "password", Path: "pw"}}}, DefaultMode: 0o400}},
			want: "pw 0400 s3cret\n"},
		{name: "secret missing", vol: cluster.Volume{Secret: &cluster.SecretVolumeSource{SecretProjection: cluster.SecretProjection{Name: "nope"}}},
			err: `secret "nope" not found`},
		{name: "secret key missing", vol: cluster.Volume{Secret: &cluster.SecretVolumeSource{SecretProjection: cluster.SecretProjection{Name: "db",
			Items: []cluster.KeyToPath{{Key: "nope", Path: "x"}}}}},
			err: "references non-existent secret key: nope"},
		{name: "downward API", vol: cluster.Volume{DownwardAPI: &cluster.DownwardAPIVolumeSource{DefaultMode: 0o644, Items: []cluster.DownwardAPIFile{
			{Path: "labels", FieldRef: &cluster.FieldRef{FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &cluster.FieldRef{FieldPath: "metadata.annotations"}, Mode: m(0o600)},
			{Path: "meta/name", FieldRef: &cluster.FieldRef{FieldPath: "metadata.name"}},
			{Path: "cpu", ResourceFieldRef: &cluster.ResourceFieldRef{ContainerName: "app", Resource: "limits.cpu", Divisor: 1}},
		}}},
			want: "annotations 0600 note=\"say \\\"hi\\\"\"\ncpu 0644 4000\nlabels 0644 app=\"web\"\\ntier=\"front\"\nmeta/name 0644 web-0\n"},
		{name: "projected: every source, one mode", vol: cluster.Volume{Projected: &cluster.ProjectedVolumeSource{DefaultMode: 0o440, Sources: []cluster.VolumeProjection{
			{ConfigMap: &cluster.ConfigMapProjection{Name: "app", Items: []cluster.KeyToPath{{Key: "level", Path: "level"}}}},
			{Secret: &cluster.SecretProjection{Name: "db", Items: []cluster.KeyToPath{{Key: "user", Path: "user", Mode: m(0o400)}}}},
			{Secret: &cluster.SecretProjection{Name: "gone", Optional: true}},
			{DownwardAPI: &cluster.DownwardAPIProjection{Items: []cluster.DownwardAPIFile{{Path: "ns", FieldRef: &cluster.FieldRef{FieldPath: "metadata.namespace"}}}}},
		}}},
			want: "level 0440 debug\nns 0440 prod\nuser 0400 app\n"},
		{name: "projected with a missing source", vol: cluster.Volume{Projected: &cluster.ProjectedVolumeSource{Sources: []cluster.VolumeProjection{
			{ConfigMap: &cluster.ConfigMapProjection{Name: "app"}}, {Secret: &cluster.SecretProjection{Name: "gone"}}}}},
			err: `secret "gone" not found`},
		{name: "not a config volume", vol: cluster.Volume{Name: "scratch", EmptyDir: &cluster.EmptyDirSource{}},
			err: "volume scratch is not a configMap, secret, downwardAPI or projected volume"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := Volume(newFixture(t).source(), tt.vol)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := filesString(files); got != tt.want {
				t.Errorf("files:\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func filesString(files []rtapi.VolumeFile) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%s %04o ", f.Path, f.Mode&fs.ModePerm)
		for _, c := range f.Data {
			switch {
			case c == '\n':
				b.WriteString(`\n`)
			case c < 0x20 || c >= 0x7f:
				fmt.Fprintf(&b, `\x%02x`, c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestServiceEnvNames: kubelet's naming, upper case with dashes turned to
// underscores, for the service and its port names; the first port is the
// Docker link's <SVC>_PORT.
func TestServiceEnvNames(t *testing.T) {
	for _, tc := range []struct {
		svc  cluster.Service
		want map[string]string
	}{
		{cluster.Service{Name: "my-db", ClusterIP: "10.43.1.2", Ports: []cluster.ServicePort{{Name: "pg-main", Port: 5432}, {Name: "dns", Port: 53, Protocol: "UDP"}}},
			map[string]string{
				"MY_DB_SERVICE_HOST": "10.43.1.2", "MY_DB_SERVICE_PORT": "5432", "MY_DB_SERVICE_PORT_PG_MAIN": "5432", "MY_DB_SERVICE_PORT_DNS": "53",
				"MY_DB_PORT": "tcp://10.43.1.2:5432", "MY_DB_PORT_5432_TCP": "tcp://10.43.1.2:5432", "MY_DB_PORT_5432_TCP_PROTO": "tcp",
				"MY_DB_PORT_5432_TCP_PORT": "5432", "MY_DB_PORT_5432_TCP_ADDR": "10.43.1.2",
				"MY_DB_PORT_53_UDP": "udp://10.43.1.2:53", "MY_DB_PORT_53_UDP_PROTO": "udp", "MY_DB_PORT_53_UDP_PORT": "53", "MY_DB_PORT_53_UDP_ADDR": "10.43.1.2",
			}},
		{cluster.Service{Name: "sctp", ClusterIP: "10.43.1.3", Ports: []cluster.ServicePort{{Port: 9, Protocol: "SCTP"}}},
			map[string]string{
				"SCTP_SERVICE_HOST": "10.43.1.3", "SCTP_SERVICE_PORT": "9", "SCTP_PORT": "sctp://10.43.1.3:9",
				"SCTP_PORT_9_SCTP": "sctp://10.43.1.3:9", "SCTP_PORT_9_SCTP_PROTO": "sctp", "SCTP_PORT_9_SCTP_PORT": "9", "SCTP_PORT_9_SCTP_ADDR": "10.43.1.3",
			}},
		{cluster.Service{Name: "headless", ClusterIP: cluster.ClusterIPNone, Ports: []cluster.ServicePort{{Port: 1}}}, map[string]string{}},
	} {
		txn := cluster.Empty().Txn(1)
		s := tc.svc
		s.Namespace = "ns"
		txn.PutService(&s)
		if got := serviceEnv(txn.Commit(), "ns"); !maps.Equal(got, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", s.Name, got, tc.want)
		}
	}
}
