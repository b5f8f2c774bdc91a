package pki

import (
	"strings"
	"testing"
)

// FuzzParseJoinToken: tokens are pasted by people, so no input may panic
// the parser, no error may quote the secret, and whatever it accepts must
// print (String) as a token that parses back to the same value.
func FuzzParseJoinToken(f *testing.F) {
	for _, s := range []string{
		"SHOAL1-" + testDigest + "-" + testSecret,
		" SHOAL1-" + strings.ToUpper(testDigest) + "-" + testSecret + "ab\n",
		"SHOAL1-" + testDigest + "-" + testSecret[:31],
		"SHOAL1-" + testDigest[:63] + "x-" + testSecret,
		"SHOAL1--",
		"SHOAL1-",
		"K10" + testDigest + "::server:" + testSecret,
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err != nil {
			if _, secret, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(s), "SHOAL1-"), "-"); ok && len(secret) >= 8 && strings.Contains(err.Error(), secret) {
				t.Fatalf("the error %q quotes the secret", err)
			}
			return
		}
		if len(tok.CADigest) != 64 || len(tok.Secret) < 32 {
			t.Fatalf("accepted %+v", tok)
		}
		back, err := ParseJoinToken(tok.String())
		if err != nil || back != tok {
			t.Fatalf("ParseJoinToken(%q) = %+v, %v; want %+v", tok.String(), back, err, tok)
		}
	})
}
