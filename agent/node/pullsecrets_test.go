package node

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"shoal/cluster"
	"shoal/pullauth"
	"shoal/seal"
)

// secretFixture seals Secrets into cluster objects with a keyring of its
// own, as the API does on apply.
type secretFixture struct {
	t    *testing.T
	keys *seal.Keyring
	id   string
}

func newSecretFixture(t *testing.T) *secretFixture {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &secretFixture{t: t, keys: seal.InMemory(k), id: k.ID}
}

// registrySecret is a kubernetes.io/dockerconfigjson Secret logging user
// in to each registry.
func (f *secretFixture) registrySecret(ns, name, user string, registries ...string) *cluster.Object {
	f.t.Helper()
	var auths []string
	for _, r := range registries {
		auths = append(auths, `"`+r+`": {"auth": "`+base64.StdEncoding.EncodeToString([]byte(user+":pw"))+`"}`)
	}
	return f.secret(ns, name, cluster.SecretDockerConfigJSON,
		map[string][]byte{pullauth.KeyDockerConfigJSON: []byte(`{"auths": {` + strings.Join(auths, ",") + `}}`)})
}

func (f *secretFixture) secret(ns, name, typ string, data map[string][]byte) *cluster.Object {
	f.t.Helper()
	sealed, err := f.keys.Seal(f.id, ns, name, data)
	if err != nil {
		f.t.Fatal(err)
	}
	return &cluster.Object{Kind: cluster.KindSecret, Namespace: ns, Name: name, SecretType: typ, Sealed: sealed}
}

func stateWith(objs ...*cluster.Object) *cluster.State {
	txn := cluster.Empty().Txn(1)
	for _, o := range objs {
		txn.PutObject(o)
	}
	return txn.Commit()
}

func TestPullCredentials(t *testing.T) {
	f := newSecretFixture(t)
	reg := f.registrySecret("default", "reg", "alice", "registry.local")
	hub := f.registrySecret("default", "hub", "bob", "https://index.docker.io/v1/", "registry.local")
	elsewhere := f.registrySecret("other", "reg", "mallory", "registry.local")
	opaque := f.secret("default", "opaque", cluster.SecretOpaque,
		map[string][]byte{pullauth.KeyDockerConfigJSON: []byte(`{"auths": {"registry.local": {"auth": "dTpw"}}}`)})
	legacy := f.secret("default", "legacy", cluster.SecretDockerConfig,
		map[string][]byte{pullauth.KeyDockercfg: []byte(`{"registry.local": {"username": "carol", "password": "pw"}}`)})
	malformed := f.secret("default", "bad", cluster.SecretDockerConfigJSON,
		map[string][]byte{pullauth.KeyDockerConfigJSON: []byte(`{"auths": {"registry.local": {"auth": "!"}}}`)})
	// Sealed with a key this node does not hold (a rotation not yet here).
	other := newSecretFixture(t)
	unopenable := other.registrySecret("default", "rotated", "dave", "registry.local")
	st := stateWith(reg, hub, elsewhere, opaque, legacy, malformed, unopenable)

	tests := []struct {
		name        string
		secrets     []string
		image       string
		users       []string
		unavailable []string
		wantErr     string
	}{
		{name: "none", image: "registry.local/app:1"},
		{name: "one", secrets: []string{"reg"}, image: "registry.local/app:1", users: []string{"alice"}},
		{name: "in the pod's order", secrets: []string{"hub", "reg"}, image: "registry.local/app:1", users: []string{"bob", "alice"}},
		{name: "named twice", secrets: []string{"reg", "reg"}, image: "registry.local/app:1", users: []string{"alice"}},
		{name: "only matching registries", secrets: []string{"reg", "hub"}, image: "busybox", users: []string{"bob"}},
		{name: "no match", secrets: []string{"reg"}, image: "ghcr.io/x/app"},
		{name: "legacy dockercfg", secrets: []string{"legacy"}, image: "registry.local/app", users: []string{"carol"}},
		{name: "opaque ignored", secrets: []string{"opaque", "reg"}, image: "registry.local/app", users: []string{"alice"}},
		{name: "missing skipped", secrets: []string{"gone", "reg"}, image: "registry.local/app", users: []string{"alice"},
			unavailable: []string{`secret "gone" not found`}},
		{name: "unopenable skipped", secrets: []string{"rotated"}, image: "registry.local/app",
			unavailable: []string{"open secret default/rotated"}},
		{name: "malformed fails", secrets: []string{"reg", "bad"}, image: "registry.local/app",
			wantErr: `image pull secret "bad": auths.registry.local.auth: not base64`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod("p", "app")
			pod.Spec.ImagePullSecrets = tt.secrets
			creds, unavailable, err := pullCredentials(st, f.keys, pod, tt.image)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var users []string
			for _, c := range creds {
				users = append(users, c.Username)
				if !strings.HasPrefix(c.Source, "secret default/") {
					t.Errorf("credential source %q", c.Source)
				}
			}
			if !slices.Equal(users, tt.users) {
				t.Errorf("users = %v, want %v", users, tt.users)
			}
			if len(unavailable) != len(tt.unavailable) {
				t.Fatalf("unavailable = %q, want %q", unavailable, tt.unavailable)
			}
			for i, u := range tt.unavailable {
				if !strings.Contains(unavailable[i], u) {
					t.Errorf("unavailable[%d] = %q, want %q", i, unavailable[i], u)
				}
			}
		})
	}
	pod := newPod("p", "app")
	pod.Spec.ImagePullSecrets = []string{"reg"}
	if _, unavailable, _ := pullCredentials(st, nil, pod, "registry.local/app"); len(unavailable) != 1 {
		t.Errorf("without a keyring: unavailable = %q", unavailable)
	}
}

// The reconciler pulls with the pod's credentials; a Secret applied after
// a failed pull is used at the retry, and until then the pod says the
// Secret was not found.
func TestImagePullWithSecrets(t *testing.T) {
	f := newSecretFixture(t)
	h := start(t, func(h *harness) {
		h.rt.pullErr["registry.local/app:1"] = errors.New("401 Unauthorized")
	}, func(c *Config) { c.Secrets = f.keys })
	p := newPod("img", "app")
	p.Spec.ImagePullSecrets = []string{"regcred"}
	h.src.putPod(p)
	h.waitFor("the missing secret named", func() bool {
		cs := h.status("img").Containers
		return len(cs) == 1 && (cs[0].Reason == "ErrImagePull" || cs[0].Reason == "ImagePullBackOff") &&
			strings.Contains(cs[0].Message, "401 Unauthorized") && strings.Contains(cs[0].Message, `secret "regcred" not found`)
	})
	if calls := h.rt.callsOf("PullImage"); len(calls[0].creds) != 0 {
		t.Errorf("first pull had credentials %v", calls[0].creds)
	}

	h.src.update(func(txn *cluster.Txn) {
		txn.PutObject(f.registrySecret("default", "regcred", "alice", "registry.local"))
	})
	h.rt.mu.Lock()
	delete(h.rt.pullErr, "registry.local/app:1")
	h.rt.mu.Unlock()
	h.waitFor("running once pulled with the secret", func() bool { return h.status("img").Ready })
	calls := h.rt.callsOf("PullImage")
	last := calls[len(calls)-1]
	if len(last.creds) != 1 || last.creds[0].Username != "alice" || last.creds[0].Password != "pw" {
		t.Errorf("last pull's credentials = %v", last.creds)
	}
}
