package pullauth

import (
	"slices"
	"strings"
	"testing"
)

// keyring builds a keyring from secrets, each a list of registry=user
// pairs; the user names the credential in the test's expectations.
func keyring(t *testing.T, secrets ...string) *Keyring {
	t.Helper()
	var k Keyring
	for i, s := range secrets {
		var auths []string
		for pair := range strings.FieldsSeq(s) {
			registry, user, _ := strings.Cut(pair, "=")
			auths = append(auths, `"`+registry+`": {"auth": "`+b64(user+":pw")+`"}`)
		}
		cfg, err := ParseConfigJSON([]byte(`{"auths": {`+strings.Join(auths, ",")+`}}`), "secret"+string(rune('1'+i)))
		if err != nil {
			t.Fatal(err)
		}
		k.Add(cfg)
	}
	return &k
}

func users(creds []Credential) []string {
	var out []string
	for _, c := range creds {
		out = append(out, c.Username)
	}
	return out
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		image   string
		want    []string
	}{
		{"host and port exactly", []string{"registry:5000=a"}, "registry:5000/app:1", []string{"a"}},
		{"port must match", []string{"registry=a"}, "registry:5000/app", nil},
		{"port must match the other way", []string{"registry:5000=a"}, "registry/app", nil},
		{"other host", []string{"registry:5000=a"}, "other:5000/app", nil},
		{"scheme and /v2/ stripped", []string{"https://r.example.com/v2/=a"}, "r.example.com/team/app:1", []string{"a"}},
		{"http scheme stripped", []string{"http://127.0.0.1:5000=a"}, "127.0.0.1:5000/shoal/busybox:1", []string{"a"}},
		{"path prefix", []string{"r.example.com/team=a"}, "r.example.com/team/app", []string{"a"}},
		{"path not a prefix", []string{"r.example.com/team=a"}, "r.example.com/other/app", nil},
		{"glob per label", []string{"*.example.com=a"}, "r.example.com/app", []string{"a"}},
		{"glob does not span labels", []string{"*.example.com=a"}, "a.b.example.com/app", nil},
		{"glob is not the apex", []string{"*.example.com=a"}, "example.com/app", nil},
		{"most specific first", []string{"r.example.com=host r.example.com/team=team r.example.com/team/app=app"}, "r.example.com/team/app", []string{"app", "team", "host"}},
		{"secrets in order for one key", []string{"r:5000=first", "r:5000=second", "r:5000=third"}, "r:5000/x", []string{"first", "second", "third"}},
		{"docker login's key for a short name", []string{"https://index.docker.io/v1/=hub"}, "busybox", []string{"hub"}},
		{"docker login's key for docker.io", []string{"https://index.docker.io/v1/=hub"}, "docker.io/library/busybox:1.36", []string{"hub"}},
		{"docker login's key for a user's repo", []string{"index.docker.io=hub"}, "alice/app", []string{"hub"}},
		{"docker login's key for index.docker.io images", []string{"https://index.docker.io/v1/=hub"}, "index.docker.io/alice/app", []string{"hub"}},
		{"docker.io key", []string{"docker.io=hub"}, "busybox", []string{"hub"}},
		{"docker.io key and a hub key: the direct match wins", []string{"docker.io=direct index.docker.io=index"}, "nginx", []string{"direct"}},
		{"docker hub key not for other registries", []string{"https://index.docker.io/v1/=hub"}, "ghcr.io/alice/app", nil},
		{"docker hub key not for localhost", []string{"https://index.docker.io/v1/=hub"}, "localhost/app", nil},
		{"docker hub key not for loopback", []string{"https://index.docker.io/v1/=hub"}, "127.0.0.1:5000/app", nil},
		{"no secrets", nil, "registry:5000/app", nil},
		{"digest reference", []string{"registry:5000=a"}, "registry:5000/app@sha256:" + strings.Repeat("a", 64), []string{"a"}},
		{"IPv6 registry", []string{"[::1]:5000=a"}, "[::1]:5000/app", []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyring(t, tt.secrets...).Lookup(tt.image)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(users(got), tt.want) {
				t.Errorf("Lookup(%q) = %v, want %v", tt.image, users(got), tt.want)
			}
		})
	}
}

func TestLookupSources(t *testing.T) {
	k := keyring(t, "r:5000=a", "other=b", "r:5000=c")
	got, _ := k.Lookup("r:5000/app")
	var sources []string
	for _, c := range got {
		sources = append(sources, c.Source)
	}
	if want := []string{"secret1", "secret3"}; !slices.Equal(sources, want) {
		t.Errorf("sources = %v, want %v", sources, want)
	}
}

func TestLookupBadImage(t *testing.T) {
	var k Keyring
	if _, err := k.Lookup("UPPER/Case"); err == nil {
		t.Error("an invalid image reference was looked up")
	}
}
