package gossip

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// keySize is the size of the keys NewKey makes: AES-256.
const keySize = 32

// ErrKeyring: a keyring given to DecodeKeys or SetKeys is invalid (New
// reports the same problems as ErrConfig).
var ErrKeyring = errors.New("gossip: invalid keyring")

// NewKey returns a random 32-byte gossip key.
func NewKey() ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("gossip: new key: %w", err)
	}
	return key, nil
}

// EncodeKeys writes a keyring as base64 strings (standard encoding),
// primary first, for a file or a message; DecodeKeys reads it back.
func EncodeKeys(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = base64.StdEncoding.EncodeToString(k)
	}
	return out
}

// DecodeKeys reads a keyring written by EncodeKeys. It fails with
// ErrKeyring, naming the bad entry, unless the result is a keyring
// Config.Keys and SetKeys accept: at least one key, each of 16, 24 or 32
// bytes, none twice.
func DecodeKeys(s []string) ([][]byte, error) {
	keys := make([][]byte, len(s))
	for i, e := range s {
		k, err := base64.StdEncoding.DecodeString(e)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d is not base64: %w", ErrKeyring, i, err)
		}
		keys[i] = k
	}
	if err := validateKeys(keys); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyring, err)
	}
	return keys, nil
}

// validateKeys reports the first problem of a keyring, naming the key by
// its index.
func validateKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("no gossip key (gossip is always encrypted)")
	}
	for i, k := range keys {
		if l := len(k); l != 16 && l != 24 && l != 32 {
			return fmt.Errorf("key %d is %d bytes, want 16, 24 or 32 (AES-128, -192 or -256)", i, l)
		}
		for j := range i {
			if bytes.Equal(keys[j], k) {
				return fmt.Errorf("key %d repeats key %d", i, j)
			}
		}
	}
	return nil
}

// cloneKeys deep-copies a keyring.
func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}

func hasKey(keys [][]byte, k []byte) bool {
	return slices.ContainsFunc(keys, func(x []byte) bool { return bytes.Equal(x, k) })
}

// keyID names a key in logs without revealing it.
func keyID(k []byte) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:4])
}

func keyIDs(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = keyID(k)
	}
	return out
}

// Keys returns a copy of the current keyring, the primary key first, the
// others in the order memberlist tries them.
func (g *Gossip) Keys() [][]byte {
	g.keyMu.Lock()
	defer g.keyMu.Unlock()
	return cloneKeys(g.keyring.GetKeys())
}

// SetKeys makes this node's running memberlist use exactly keys, validated
// like Config.Keys. It installs the keys the ring lacks, then makes keys[0]
// the primary (the key it encrypts with), and only then removes the keys
// not listed: the node never stops reading a key before it stops writing
// with it. A ring with keys[0] as primary and the same other keys, in any
// order, is left as it is; otherwise memberlist orders the others (new keys
// last, a former primary right after the primary), so Keys may list them in
// another order than given. It fails with ErrKeyring for an invalid keyring
// and is safe for concurrent use.
//
// A call changes only this node. Rotating the cluster's key takes three
// rounds, each done on every member before the next begins, so that no
// member ever encrypts with a key another lacks: SetKeys([old, new])
// installs new; SetKeys([new, old]) encrypts with it; SetKeys([new])
// forgets old.
func (g *Gossip) SetKeys(keys [][]byte) error {
	if err := validateKeys(keys); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyring, err)
	}
	keys = cloneKeys(keys)
	// memberlist's Keyring locks only its final swap of the slice: two
	// changes at once would race on it.
	g.keyMu.Lock()
	defer g.keyMu.Unlock()
	ring := g.keyring
	was := slices.Clone(ring.GetKeys())
	if sameRing(was, keys) {
		return nil
	}
	for _, k := range keys {
		if !hasKey(was, k) {
			if err := ring.AddKey(k); err != nil {
				return fmt.Errorf("gossip: install key %s: %w", keyID(k), err)
			}
		}
	}
	if !bytes.Equal(ring.GetPrimaryKey(), keys[0]) {
		if err := ring.UseKey(keys[0]); err != nil {
			return fmt.Errorf("gossip: make key %s primary: %w", keyID(keys[0]), err)
		}
	}
	if err := removeKeys(ring, keys); err != nil {
		return err
	}
	g.log.Info("gossip keyring changed", "keys", keyIDs(ring.GetKeys()), "was", keyIDs(was))
	return nil
}

// sameRing reports whether two keyrings (without repeats) have the same
// primary and the same other keys, in any order.
func sameRing(a, b [][]byte) bool {
	if len(a) != len(b) || !bytes.Equal(a[0], b[0]) {
		return false
	}
	for _, k := range b {
		if !hasKey(a, k) {
			return false
		}
	}
	return true
}

// removeKeys drops from ring every key not in keep, whose first key is
// already the primary. memberlist's RemoveKey closes the gap by shifting
// the ring's slice in place, under the feet of receivers iterating over it
// to decrypt, unless the key is the last one (nothing to shift). So keys
// leave only from the end: from the last key back to the first one to
// drop, then those to keep among them are installed again. They are
// missing for an instant only when a key to keep sat behind one to drop,
// which the three-round rotation never produces.
func removeKeys(ring *memberlist.Keyring, keep [][]byte) error {
	cur := slices.Clone(ring.GetKeys())
	first := slices.IndexFunc(cur, func(k []byte) bool { return !hasKey(keep, k) })
	if first < 0 {
		return nil
	}
	for i := len(cur) - 1; i >= first; i-- {
		if err := ring.RemoveKey(cur[i]); err != nil {
			return fmt.Errorf("gossip: remove key %s: %w", keyID(cur[i]), err)
		}
	}
	for _, k := range cur[first:] {
		if hasKey(keep, k) {
			if err := ring.AddKey(k); err != nil {
				return fmt.Errorf("gossip: install key %s again: %w", keyID(k), err)
			}
		}
	}
	return nil
}
