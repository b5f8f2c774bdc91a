package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"shoal/cluster"
)

func TestDecodeObjects(t *testing.T) {
	tests := []struct {
		name, yaml string
		check      func(t *testing.T, o Object)
		wantErr    string // substring of the error; "" for success
	}{
		{name: "configmap", yaml: `apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: shop, labels: {a: b}, annotations: {note: x}}
data: {app.properties: "k=v", "empty": ""}
binaryData: {logo.png: iVBORw0K}
immutable: true`, check: func(t *testing.T, o Object) {
			g := o.Generic
			want := &cluster.Object{Kind: cluster.KindConfigMap, Namespace: "shop", Name: "app",
				Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"note": "x"},
				Data: map[string]string{"app.properties": "k=v", "empty": ""}, BinaryData: map[string][]byte{"logo.png": {0x89, 'P', 'N', 'G', '\r', '\n'}},
				Immutable: true}
			if !reflect.DeepEqual(g, want) {
				t.Errorf("got %+v\nwant %+v", g, want)
			}
		}},
		{name: "configmap bad key", yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {\"a/b\": x}",
			wantErr: `data[a/b]: "a/b" is invalid`},
		{name: "configmap key in both", yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {k: x}\nbinaryData: {k: eA==}",
			wantErr: `binaryData.k: key "k" is also in data`},
		{name: "secret data and stringData", yaml: `apiVersion: v1
kind: Secret
metadata: {name: db}
data: {user: YWRtaW4=, password: b2xk}
stringData: {password: new}`, check: func(t *testing.T, o Object) {
			if o.Generic.SecretType != cluster.SecretOpaque || o.Generic.Namespace != "default" {
				t.Errorf("type %q namespace %q", o.Generic.SecretType, o.Generic.Namespace)
			}
			want := map[string][]byte{"user": []byte("admin"), "password": []byte("new")}
			if !reflect.DeepEqual(o.SecretData, want) {
				t.Errorf("data %q, want %q", o.SecretData, want)
			}
			if !reflect.DeepEqual(o.Generic.SecretKeys, []string{"password", "user"}) || o.Generic.Sealed != nil {
				t.Errorf("keys %v sealed %v", o.Generic.SecretKeys, o.Generic.Sealed)
			}
		}},
		{name: "dockerconfigjson", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: reg}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: '{\"auths\":{}}'}"},
		{name: "dockerconfigjson not json", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: reg}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: 'auths'}",
			wantErr: "data[.dockerconfigjson]: not valid JSON"},
		{name: "dockerconfigjson not an object", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: reg}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: '[]'}",
			wantErr: "data[.dockerconfigjson]: expected a JSON object"},
		{name: "dockerconfigjson bad auth", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: reg}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: '{\"auths\":{\"r:5000\":{\"auth\":\"YWxpY2U=\"}}}'}",
			wantErr: "data[.dockerconfigjson]: auths.r:5000.auth: expected base64 of user:password"},
		{name: "dockercfg", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: reg}\ntype: kubernetes.io/dockercfg\nstringData: {.dockercfg: '{\"r:5000\":{\"auth\":\"dTpw\"}}'}"},
		{name: "dockercfg bad registry", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: reg}\ntype: kubernetes.io/dockercfg\nstringData: {.dockercfg: '{\"r:x\":{\"auth\":\"dTpw\"}}'}",
			wantErr: "data[.dockercfg]: r:x: not a registry host"},
		{name: "tls needs key", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: t}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}",
			wantErr: "data[tls.key]: required for a kubernetes.io/tls Secret"},
		{name: "basic-auth", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: b}\ntype: kubernetes.io/basic-auth\nstringData: {password: x}"},
		{name: "basic-auth empty", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: b}\ntype: kubernetes.io/basic-auth",
			wantErr: `needs "username" or "password"`},
		{name: "service account token", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/service-account-token",
			wantErr: `type: "kubernetes.io/service-account-token" is not supported by Shoal`},
		{name: "unknown kubernetes type", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/magic",
			wantErr: `type: "kubernetes.io/magic" is not supported by Shoal (Opaque`},
		{name: "user type", yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: helm.sh/release.v1\ndata: {release: eA==}"},
		{name: "namespace", yaml: "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, namespace: ignored, labels: {team: a}}\nspec: {finalizers: [kubernetes]}",
			check: func(t *testing.T, o Object) {
				if o.Generic.Kind != cluster.KindNamespace || o.Generic.Namespace != "" || o.Namespace != "" || o.Generic.Labels["team"] != "a" {
					t.Errorf("got %+v", o.Generic)
				}
			}},
		{name: "namespace bad name", yaml: "apiVersion: v1\nkind: Namespace\nmetadata: {name: Shop}", wantErr: `metadata.name: "Shop" is invalid`},
		{name: "service account", yaml: "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\nautomountServiceAccountToken: false",
			check: func(t *testing.T, o Object) {
				if !strings.Contains(string(o.Generic.Raw), `"automountServiceAccountToken":false`) || o.Warning() == "" {
					t.Errorf("raw %s, warning %q", o.Generic.Raw, o.Warning())
				}
			}},
		{name: "cluster role", yaml: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]`, check: func(t *testing.T, o Object) {
			if o.Generic.Namespace != "" || !strings.Contains(o.Warning(), `ClusterRole "reader" is stored but has no effect`) {
				t.Errorf("namespace %q warning %q", o.Generic.Namespace, o.Warning())
			}
		}},
		{name: "role binding wrong field", yaml: "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\nsubject: []",
			wantErr: "subject: unknown field"},
		{name: "disruption budget", yaml: "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: zk-pdb}\nspec:\n  selector: {matchLabels: {app: zk}}\n  maxUnavailable: 1\n",
			check: func(t *testing.T, o Object) {
				b := o.Generic.Budget
				if b == nil || b.MaxUnavailable != "1" || b.MinAvailable != "" || b.Selector["app"] != "zk" || b.AlwaysAllowUnhealthy {
					t.Errorf("budget %+v", b)
				}
			}},
		{name: "disruption budget percent", yaml: "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p}\nspec:\n  selector: {matchLabels: {app: zk}}\n  minAvailable: 50%\n  unhealthyPodEvictionPolicy: AlwaysAllow\n",
			check: func(t *testing.T, o Object) {
				if b := o.Generic.Budget; b.MinAvailable != "50%" || !b.AlwaysAllowUnhealthy {
					t.Errorf("budget %+v", b)
				}
			}},
		{name: "disruption budget both", yaml: "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p}\nspec:\n  selector: {matchLabels: {app: zk}}\n  minAvailable: 1\n  maxUnavailable: 1\n",
			wantErr: "spec.maxUnavailable: may not be set together with minAvailable"},
		{name: "disruption budget without selector", yaml: "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p}\nspec: {minAvailable: 120%}\n",
			wantErr: "spec.minAvailable: \"120%\": expected a number of pods or a percentage"},
		{name: "role wrong apiVersion", yaml: "apiVersion: v1\nkind: Role\nmetadata: {name: r}",
			wantErr: `apiVersion: "v1" is not supported for Role (Shoal supports rbac.authorization.k8s.io/v1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(tt.yaml), "o.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 || objs[0].Generic == nil {
				t.Fatalf("objects %+v", objs)
			}
			if tt.check != nil {
				tt.check(t, objs[0])
			}
		})
	}
}

// A directory is all or nothing: one bad file refuses the apply.
func TestLoadDirAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: [x]\n"), 0o644)
	objs, err := Load([]string{dir}, nil)
	if err == nil || len(objs) != 0 || !strings.Contains(err.Error(), "b.yaml: document 1 (ConfigMap \"bad\", line 4): data: expected an object") {
		t.Fatalf("Load = %d objects, %v", len(objs), err)
	}
}

func TestServiceDiscoveryFields(t *testing.T) {
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: peers}\nspec:\n  selector: {app: kc}\n"
	tests := []struct{ name, spec, wantErr string }{
		{"headless without ports, publishing not-ready pods", "  clusterIP: None\n  publishNotReadyAddresses: true\n", ""},
		{"ports needed unless headless", "", "spec.ports: required (unless clusterIP is None)"},
		{"IPv4 single stack", "  clusterIP: None\n  ipFamilies: [IPv4]\n  ipFamilyPolicy: SingleStack\n", ""},
		{"prefer dual stack", "  clusterIP: None\n  ipFamilyPolicy: PreferDualStack\n", ""},
		{"IPv6", "  clusterIP: None\n  ipFamilies: [IPv6]\n", `spec.ipFamilies[0]: "IPv6" is not supported by Shoal`},
		{"require dual stack", "  clusterIP: None\n  ipFamilyPolicy: RequireDualStack\n", `spec.ipFamilyPolicy: "RequireDualStack" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(svc+tt.spec), "s.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := objs[0].Service
			if strings.Contains(tt.spec, "publishNotReady") != s.PublishNotReadyAddresses {
				t.Errorf("publishNotReadyAddresses %v", s.PublishNotReadyAddresses)
			}
		})
	}
}

func TestTemplateNameIgnored(t *testing.T) {
	d := `apiVersion: apps/v1
kind: Deployment
metadata: {name: m}
spec:
  selector: {matchLabels: {app: m}}
  template:
    metadata: {name: m, labels: {app: m}}
    spec: {containers: [{name: c, image: busybox}]}
`
	if _, err := Decode([]byte(d), "d.yaml"); err != nil {
		t.Fatal(err)
	}
}
