package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k1, _ := NewKey()
	k2, _ := NewKey()
	r := InMemory(k1, k2)
	data := map[string][]byte{"password": []byte("hunter2"), "empty": {}}
	blob, err := r.Seal(k2.ID, "prod", "db", data)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("hunter2")) || bytes.Contains(blob, []byte("password")) {
		t.Fatalf("sealed blob holds plaintext: %q", blob)
	}
	if id, _ := KeyID(blob); id != k2.ID {
		t.Errorf("KeyID = %q, want %q", id, k2.ID)
	}
	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1
	other := InMemory(k1)
	tests := []struct {
		name      string
		r         *Keyring
		ns, obj   string
		blob      []byte
		wantErr   bool
		unknownID bool
	}{
		{"same identity", r, "prod", "db", blob, false, false},
		{"other name", r, "prod", "db2", blob, true, false},
		{"other namespace", r, "dev", "db", blob, true, false},
		{"tampered", r, "prod", "db", tampered, true, false},
		{"key not held", other, "prod", "db", blob, true, true},
		{"garbage", r, "prod", "db", []byte("hello"), true, false},
		{"truncated", r, "prod", "db", blob[:2+len(k2.ID)+3], true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.Open(tt.ns, tt.obj, tt.blob)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Open err = %v, want error %v", err, tt.wantErr)
			}
			if errors.Is(err, ErrUnknownKey) != tt.unknownID {
				t.Errorf("errors.Is(ErrUnknownKey) = %v, want %v (%v)", !tt.unknownID, tt.unknownID, err)
			}
			if err == nil && (string(got["password"]) != "hunter2" || len(got) != 2) {
				t.Errorf("Open = %q", got)
			}
		})
	}
}

func TestKeyringFile(t *testing.T) {
	dir := t.TempDir()
	r, err := Load(dir)
	if err != nil || len(r.Keys()) != 0 {
		t.Fatalf("Load of a missing file = %v, %v", r.Keys(), err)
	}
	k1, _ := NewKey()
	if err := r.Add(k1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode())
	}
	k2, _ := NewKey()
	if err := r.Add(k1, k2); err != nil { // k1 again is a no-op
		t.Fatal(err)
	}
	again, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Keys(); len(got) != 2 || got[0].ID != k1.ID || got[1].ID != k2.ID {
		t.Errorf("reloaded keys = %v", got)
	}
	forged := Key{ID: k1.ID, Secret: k2.Secret}
	if err := again.Add(forged); err == nil {
		t.Error("Add accepted a different key under an existing ID")
	}
	if err := again.Add(Key{ID: "short", Secret: []byte("x")}); err == nil {
		t.Error("Add accepted a 1-byte key")
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"keys":[{"id":"a","key":"AAAA"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load accepted a 3-byte key")
	}
}
