package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// TokenPrefix starts every join token and versions its format.
const TokenPrefix = "SHOAL1"

const (
	digestHexLen    = 64  // SHA-256
	minSecretHexLen = 32  // 128 bits
	maxSecretHexLen = 128 // 512 bits: anything longer is not a token of ours
)

// errTokenShape is the message for anything that is not a join token at
// all; it never quotes the input, which may hold a secret.
var errTokenShape = errors.New("expected a join token " + TokenPrefix + "-<CA digest>-<secret>, as printed by `shoal token join`")

// JoinToken is what a joiner needs: the digest of the cluster CA, to
// verify the seed before trusting it, and a secret, to be admitted.
type JoinToken struct {
	CADigest string
	Secret   string
}

// NewJoinToken makes a token for the CA with this digest and a fresh
// 128-bit secret.
func NewJoinToken(caDigest string) (JoinToken, error) {
	if len(caDigest) != digestHexLen || checkHex("CA digest", caDigest) != nil {
		return JoinToken{}, fmt.Errorf("making a join token: the CA digest is not %d hex characters", digestHexLen)
	}
	b := make([]byte, minSecretHexLen/2)
	if _, err := rand.Read(b); err != nil {
		return JoinToken{}, fmt.Errorf("making a join token: drawing the secret: %w", err)
	}
	return JoinToken{CADigest: strings.ToLower(caDigest), Secret: hex.EncodeToString(b)}, nil
}

// String is the token as printed and pasted: SHOAL1-<digest>-<secret>.
func (t JoinToken) String() string {
	return TokenPrefix + "-" + t.CADigest + "-" + t.Secret
}

// ParseJoinToken reads a token as pasted by an operator: surrounding
// space is dropped and hex is taken in either case (and kept lowercase).
// Its errors say what is wrong without quoting the secret.
func ParseJoinToken(s string) (JoinToken, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), TokenPrefix+"-")
	if !ok {
		return JoinToken{}, errTokenShape
	}
	digest, secret, ok := strings.Cut(rest, "-")
	if !ok {
		return JoinToken{}, errTokenShape
	}
	if len(digest) != digestHexLen {
		return JoinToken{}, fmt.Errorf("the join token's CA digest has %d characters; a SHA-256 digest has %d hex characters", len(digest), digestHexLen)
	}
	if err := checkHex("CA digest", digest); err != nil {
		return JoinToken{}, err
	}
	if err := checkHex("secret", secret); err != nil {
		return JoinToken{}, err
	}
	if len(secret) < minSecretHexLen {
		return JoinToken{}, fmt.Errorf("the join token's secret carries %d bits; at least %d are required", len(secret)*4, minSecretHexLen*4)
	}
	if len(secret) > maxSecretHexLen {
		return JoinToken{}, fmt.Errorf("the join token's secret has %d hex characters; at most %d are allowed", len(secret), maxSecretHexLen)
	}
	return JoinToken{CADigest: strings.ToLower(digest), Secret: strings.ToLower(secret)}, nil
}

// checkHex reports the position, never the value, of a non-hex character.
// Only ASCII passes, so lowercasing afterwards keeps the length.
func checkHex(what, s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			continue
		}
		return fmt.Errorf("the join token's %s has a character that is not hex at byte %d", what, i+1)
	}
	return nil
}

// HashSecret is what the cluster stores in place of a join secret, so that
// its replicated state and snapshots never hold a usable secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CheckSecret reports whether secret hashes to hash, in constant time so
// that response timing does not leak how much of a guess was right.
func CheckSecret(secret, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(strings.ToLower(hash))) == 1
}
