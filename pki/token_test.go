package pki

import (
	"strings"
	"testing"
)

const (
	testDigest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	testSecret = "0123456789abcdef0123456789abcdef"
)

func TestNewJoinToken(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	tok, err := NewJoinToken(ca.Digest())
	if err != nil {
		t.Fatal(err)
	}
	if tok.CADigest != ca.Digest() || len(tok.Secret) != 32 || strings.ToLower(tok.Secret) != tok.Secret {
		t.Errorf("token %+v: want the CA digest and 32 lowercase hex", tok)
	}
	if s := tok.String(); s != "SHOAL1-"+ca.Digest()+"-"+tok.Secret {
		t.Errorf("String() = %q", s)
	}
	back, err := ParseJoinToken(tok.String())
	if err != nil || back != tok {
		t.Errorf("ParseJoinToken(String()) = %+v, %v; want %+v", back, err, tok)
	}
	again, _ := NewJoinToken(ca.Digest())
	if again.Secret == tok.Secret {
		t.Error("two tokens share a secret")
	}
	if up, err := NewJoinToken(strings.ToUpper(ca.Digest())); err != nil || up.CADigest != ca.Digest() {
		t.Errorf("NewJoinToken(uppercase digest) = %+v, %v", up, err)
	}
	for _, bad := range []string{"", "abc", testDigest[:63] + "g", testDigest + "0"} {
		if _, err := NewJoinToken(bad); err == nil {
			t.Errorf("NewJoinToken(%q) succeeded", bad)
		}
	}
}

func TestParseJoinToken(t *testing.T) {
	good := JoinToken{CADigest: testDigest, Secret: testSecret}
	tests := []struct {
		name string
		in   string
		want JoinToken
		err  string // substring; empty for success
	}{
		{"good", "SHOAL1-" + testDigest + "-" + testSecret, good, ""},
		{"whitespace", "  SHOAL1-" + testDigest + "-" + testSecret + "\n", good, ""},
		{"uppercase hex", "SHOAL1-" + strings.ToUpper(testDigest) + "-" + strings.ToUpper(testSecret), good, ""},
		{"longer secret", "SHOAL1-" + testDigest + "-" + testSecret + "ff", JoinToken{testDigest, testSecret + "ff"}, ""},
		{"short secret", "SHOAL1-" + testDigest + "-" + testSecret[:31], JoinToken{}, "carries 124 bits; at least 128 are required"},
		{"empty secret", "SHOAL1-" + testDigest + "-", JoinToken{}, "carries 0 bits"},
		{"huge secret", "SHOAL1-" + testDigest + "-" + strings.Repeat("a", 129), JoinToken{}, "at most 128"},
		{"bad prefix", "SHOAL2-" + testDigest + "-" + testSecret, JoinToken{}, "expected a join token SHOAL1-<CA digest>-<secret>, as printed by `shoal token join`"},
		{"k3s token", "K10" + testDigest + "::server:" + testSecret, JoinToken{}, "expected a join token"},
		{"lowercase prefix", "shoal1-" + testDigest + "-" + testSecret, JoinToken{}, "expected a join token"},
		{"empty", "  ", JoinToken{}, "expected a join token"},
		{"no secret", "SHOAL1-" + testDigest, JoinToken{}, "expected a join token"},
		{"short digest", "SHOAL1-" + testDigest[:40] + "-" + testSecret, JoinToken{}, "has 40 characters"},
		{"non-hex digest", "SHOAL1-" + testDigest[:63] + "z-" + testSecret, JoinToken{}, "CA digest has a character that is not hex at byte 64"},
		{"non-hex secret", "SHOAL1-" + testDigest + "-" + testSecret[:31] + "g", JoinToken{}, "secret has a character that is not hex at byte 32"},
		{"dash in secret", "SHOAL1-" + testDigest + "-" + testSecret + "-x", JoinToken{}, "secret has a character that is not hex"},
		{"non-ASCII secret", "SHOAL1-" + testDigest + "-" + testSecret + "é", JoinToken{}, "not hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJoinToken(tt.in)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Errorf("ParseJoinToken = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParseJoinToken: %v, want an error containing %q", err, tt.err)
			}
			if strings.Contains(err.Error(), testSecret[:16]) {
				t.Errorf("the error %q quotes the secret", err)
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	h := HashSecret(testSecret)
	if len(h) != 64 || h == HashSecret(testSecret+"0") {
		t.Fatalf("HashSecret = %q", h)
	}
	tests := []struct {
		name, secret, hash string
		want               bool
	}{
		{"right", testSecret, h, true},
		{"uppercase hash", testSecret, strings.ToUpper(h), true},
		{"wrong secret", testSecret[:31] + "0", h, false},
		{"empty secret", "", h, false},
		{"empty hash", testSecret, "", false},
		{"the secret as its hash", testSecret, testSecret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckSecret(tt.secret, tt.hash); got != tt.want {
				t.Errorf("CheckSecret = %v, want %v", got, tt.want)
			}
		})
	}
}
