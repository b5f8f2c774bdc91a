package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		g            globals
		client, agnt string
		err          string
	}{
		{name: "flag wins", g: globals{token: "given", tokenFile: file}, client: "given", agnt: "given"},
		{name: "file", g: globals{tokenFile: file}, client: "from-file", agnt: "from-file"},
		{name: "missing file", g: globals{tokenFile: filepath.Join(dir, "nope")}, err: "no such file"},
		{name: "empty file", g: globals{tokenFile: empty}, err: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.g.clientToken()
			agot, aerr := tc.g.agentToken()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || aerr == nil {
					t.Fatalf("client %q %v, agent %q %v; want %q", got, err, agot, aerr, tc.err)
				}
				return
			}
			if err != nil || aerr != nil || got != tc.client || agot != tc.agnt {
				t.Errorf("client %q %v, agent %q %v; want %q, %q", got, err, agot, aerr, tc.client, tc.agnt)
			}
		})
	}
	// Without flags the agent joins with nothing it was not given, while
	// the client falls back to the default file only where it is readable.
	var g globals
	if tok, err := g.agentToken(); tok != "" || err != nil {
		t.Errorf("agent without flags: %q, %v", tok, err)
	}
	if _, err := os.Stat(defaultTokenFile); err != nil {
		if tok, err := g.clientToken(); tok != "" || err != nil {
			t.Errorf("client without flags or default file: %q, %v", tok, err)
		}
	}
}
