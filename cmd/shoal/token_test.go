package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/agent/apiclient"
	"shoal/pki"
)

func TestResolveCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir) // no ~/.shoal/config
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conf")
	if err := (&apiclient.Credentials{Server: "10.0.0.1:7948", CA: string(ca.CertPEM), Token: "from-config"}).Write(conf); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file %v %v", fi, err)
	}
	tokFile := filepath.Join(dir, "tok")
	if err := os.WriteFile(tokFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noCA := filepath.Join(dir, "noca")
	if err := os.WriteFile(noCA, []byte("server: https://10.0.0.1:7948\ntoken: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		g           globals
		addr, token string
		err         string
	}{
		{name: "config", g: globals{config: conf}, addr: "10.0.0.1:7948", token: "from-config"},
		{name: "flags win", g: globals{config: conf, addr: "10.0.0.2:1", token: "given", tokenFile: tokFile}, addr: "10.0.0.2:1", token: "given"},
		{name: "token file", g: globals{config: conf, tokenFile: tokFile}, addr: "10.0.0.1:7948", token: "from-file"},
		{name: "missing token file", g: globals{config: conf, tokenFile: filepath.Join(dir, "nope")}, err: "no such file"},
		{name: "missing config", g: globals{config: filepath.Join(dir, "nope")}, err: "no such file"},
		{name: "config without CA", g: globals{config: noCA}, err: "server and ca are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			err := g.resolve()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.addr != tc.addr || g.token != tc.token || g.tls == nil || g.tls.RootCAs == nil || g.tls.InsecureSkipVerify {
				t.Errorf("addr %q token %q tls %+v", g.addr, g.token, g.tls)
			}
		})
	}
	// Without any credentials file the client says where to get one,
	// unless this machine's root admin.conf is readable.
	if _, err := os.Stat(defaultAdminConf); err != nil {
		var g globals
		if err := g.resolve(); err == nil || !strings.Contains(err.Error(), "--config") {
			t.Errorf("no credentials: %v", err)
		}
	}
}

// TestOfflineVerbs: only the verbs that need no agent skip the
// credentials; `token create` under the offline `token` does not.
func TestOfflineVerbs(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, tc := range []struct {
		args    []string
		offline bool
	}{
		{[]string{"token", "join", "--data-dir", t.TempDir()}, true},
		{[]string{"token", "create", "--role", "view"}, false},
		{[]string{"token", "list"}, false},
		{[]string{"gossip", "rotate-key"}, false},
	} {
		root := newRoot()
		root.SetArgs(append(tc.args, "--config", filepath.Join(t.TempDir(), "none")))
		root.SetOut(io.Discard)
		err := root.Execute()
		credErr := err != nil && strings.Contains(err.Error(), "--config")
		if credErr == tc.offline {
			t.Errorf("%v: %v (offline %v)", tc.args, err, tc.offline)
		}
	}
}
