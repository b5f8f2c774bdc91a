package pullauth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"shoal/cluster"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseConfigJSON(t *testing.T) {
	type want struct{ registry, key, user, pass, token string }
	tests := []struct {
		name    string
		data    string
		want    []want
		wantErr string
	}{
		{
			name: "auth field",
			data: `{"auths": {"registry:5000": {"auth": "` + b64("alice:s3cret") + `"}}}`,
			want: []want{{"registry:5000", "registry:5000", "alice", "s3cret", ""}},
		},
		{
			name: "auth without padding, password with a colon",
			data: `{"auths": {"r.example.com": {"auth": "` + strings.TrimRight(b64("bob:a:b"), "=") + `"}}}`,
			want: []want{{"r.example.com", "r.example.com", "bob", "a:b", ""}},
		},
		{
			name: "username and password",
			data: `{"auths": {"https://r.example.com/v2/": {"username": "u", "password": "p", "email": "u@example.com"}}}`,
			want: []want{{"https://r.example.com/v2/", "r.example.com", "u", "p", ""}},
		},
		{
			name: "auth wins over username and password",
			data: `{"auths": {"r": {"username": "x", "password": "y", "auth": "` + b64("u:p") + `"}}}`,
			want: []want{{"r", "r", "u", "p", ""}},
		},
		{
			name: "identity token",
			data: `{"auths": {"myreg.azurecr.io": {"username": "00000000-0000-0000-0000-000000000000", "identitytoken": "tok"}}}`,
			want: []want{{"myreg.azurecr.io", "myreg.azurecr.io", "00000000-0000-0000-0000-000000000000", "", "tok"}},
		},
		{
			name: "docker hub's key, a path, and other fields ignored",
			data: `{"auths": {"https://index.docker.io/v1/": {"auth": "` + b64("hub:pw") + `"}, "http://r:5000/team/app": {"auth": "` + b64("t:pw") + `"}},
				"credsStore": "desktop", "HttpHeaders": {"User-Agent": "x"}}`,
			want: []want{
				{"http://r:5000/team/app", "r:5000/team/app", "t", "pw", ""},
				{"https://index.docker.io/v1/", "index.docker.io", "hub", "pw", ""},
			},
		},
		{
			name: "entries without credentials are left out",
			data: `{"auths": {"r": {}, "s": {"email": "e@x"}}}`,
		},
		{name: "no auths", data: `{}`},
		{name: "null auths", data: `{"auths": null}`},
		{name: "not an object", data: `["auths"]`, wantErr: "expected a JSON object"},
		{name: "null", data: `null`, wantErr: "expected a JSON object"},
		{name: "not JSON", data: `{"auths": `, wantErr: "not a Docker config.json"},
		{name: "auths not an object", data: `{"auths": [1]}`, wantErr: "not a Docker config.json"},
		{name: "entry not an object", data: `{"auths": {"r": "x"}}`, wantErr: "auths.r: expected a JSON object"},
		{name: "auth not base64", data: `{"auths": {"r": {"auth": "not base64!"}}}`, wantErr: "auths.r.auth: not base64"},
		{name: "auth without a colon", data: `{"auths": {"r": {"auth": "` + b64("alice") + `"}}}`, wantErr: "auths.r.auth: expected base64 of user:password"},
		{name: "auth of the wrong type", data: `{"auths": {"r": {"auth": 5}}}`, wantErr: "auths.r: json"},
		{name: "empty registry", data: `{"auths": {"": {"auth": "` + b64("u:p") + `"}}}`, wantErr: "empty registry name"},
		{name: "bad port", data: `{"auths": {"r:port": {"auth": "` + b64("u:p") + `"}}}`, wantErr: "auths.r:port: not a registry host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfigJSON([]byte(tt.data), "default/regcred")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if cfg != nil {
					t.Errorf("config %v returned with an error", cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(cfg), len(tt.want))
			}
			for i, w := range tt.want {
				e := cfg[i]
				got := want{e.Registry, e.key, e.Username, e.Password, e.IdentityToken}
				if got != w {
					t.Errorf("entry %d = %+v, want %+v", i, got, w)
				}
				if e.Source != "default/regcred" {
					t.Errorf("entry %d source = %q", i, e.Source)
				}
			}
		})
	}
}

func TestParseDockercfg(t *testing.T) {
	data := `{"https://index.docker.io/v1/": {"auth": "` + b64("old:pw") + `", "email": "x@y"}, "r:5000": {"username": "u", "password": "p"}}`
	cfg, err := ParseDockercfg([]byte(data), "legacy")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg) != 2 || cfg[0].key != "index.docker.io" || cfg[0].Username != "old" || cfg[1].key != "r:5000" || cfg[1].Password != "p" {
		t.Errorf("config = %+v", cfg)
	}
	// A config.json is not a .dockercfg: "auths" is read as a registry
	// whose entry has no credentials.
	cfg, err = ParseDockercfg([]byte(`{"auths": {"r": {"auth": "`+b64("u:p")+`"}}}`), "x")
	if err != nil || len(cfg) != 0 {
		t.Errorf("config.json as .dockercfg = %v, %v; want nothing", cfg, err)
	}
	for _, bad := range []string{`[]`, `{"r": 1}`, `{"r": {"auth": "%%%"}}`} {
		if _, err := ParseDockercfg([]byte(bad), "x"); err == nil {
			t.Errorf("ParseDockercfg(%s) accepted", bad)
		}
	}
}

// TestCredentialHidesSecrets: fmt, slog and JSON show where a credential
// came from, never its password or token.
func TestCredentialHidesSecrets(t *testing.T) {
	c := Credential{Username: "alice", Password: "hunter2", IdentityToken: "tok-123", Source: "secret default/regcred"}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("pull", "cred", c, "creds", []Credential{c})
	slog.New(slog.NewTextHandler(&logged, nil)).Info("pull", "cred", c)
	js, _ := json.Marshal(c)
	outputs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprint([]Credential{c}),
		fmt.Sprintf("%+v", []Credential{c}), logged.String(), string(js),
	}
	for _, out := range outputs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "tok-123") {
			t.Errorf("secret shown: %s", out)
		}
	}
	if !strings.Contains(fmt.Sprint(c), "default/regcred") {
		t.Errorf("String() = %q, want the source", c)
	}
}

// FuzzParse: no input panics either parser; what parses has only
// credentials with something in them, and each key matches as a
// schemeless URL.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"auths": {"registry:5000": {"auth": "` + b64("alice:s3cret") + `"}}}`))
	f.Add([]byte(`{"auths": {"https://index.docker.io/v1/": {"username": "u", "password": "p"}, "*.example.com/team": {"identitytoken": "t"}}}`))
	f.Add([]byte(`{"r:5000": {"auth": "dTpw", "email": "e"}}`))
	f.Add([]byte(`{"auths": {"http://[::1]:5000/v2/": {"auth": "dTpw"}}}`))
	f.Add([]byte(`{"auths": {"r": {"auth": "%%%"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte, string) (Config, error){ParseConfigJSON, ParseDockercfg} {
			cfg, err := parse(data, "fuzz")
			if err != nil {
				if cfg != nil {
					t.Fatal("config returned with an error")
				}
				continue
			}
			var k Keyring
			k.Add(cfg)
			for _, e := range cfg {
				if e.Empty() {
					t.Fatalf("entry %q has no credentials", e.Registry)
				}
				if _, err := parseSchemeless(e.key); err != nil {
					t.Fatalf("entry %q: key %q does not parse: %v", e.Registry, e.key, err)
				}
			}
			if _, err := k.Lookup("busybox"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestFromSecret(t *testing.T) {
	cfgJSON := []byte(`{"auths": {"r:5000": {"auth": "` + b64("u:p") + `"}}}`)
	dockercfg := []byte(`{"r:5000": {"auth": "` + b64("u:p") + `"}}`)
	tests := []struct {
		name    string
		typ     string
		data    map[string][]byte
		ok      bool
		entries int
		wantErr bool
	}{
		{"dockerconfigjson", cluster.SecretDockerConfigJSON, map[string][]byte{KeyDockerConfigJSON: cfgJSON}, true, 1, false},
		{"dockercfg", cluster.SecretDockerConfig, map[string][]byte{KeyDockercfg: dockercfg}, true, 1, false},
		{"opaque with the key: not for pulls", cluster.SecretOpaque, map[string][]byte{KeyDockerConfigJSON: cfgJSON}, false, 0, false},
		{"type and key mismatched", cluster.SecretDockerConfigJSON, map[string][]byte{KeyDockercfg: dockercfg}, false, 0, false},
		{"key empty", cluster.SecretDockerConfig, map[string][]byte{KeyDockercfg: {}}, false, 0, false},
		{"malformed", cluster.SecretDockerConfigJSON, map[string][]byte{KeyDockerConfigJSON: []byte(`{"auths": {"r": {"auth": "x"}}}`)}, true, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ok, err := FromSecret(tt.typ, tt.data, "s")
			if ok != tt.ok || len(cfg) != tt.entries || (err != nil) != tt.wantErr {
				t.Errorf("FromSecret = %v, %v, %v; want %d entries, ok %v, error %v", cfg, ok, err, tt.entries, tt.ok, tt.wantErr)
			}
		})
	}
}
