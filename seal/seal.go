// Package seal encrypts Secrets at rest: a Secret's data enters the Raft
// log and snapshots only as AES-256-GCM ciphertext under a cluster data
// key.
//
// Where the keys live: in every agent's data dir (secret-keys.json, mode
// 0600), never in the replicated state, which names only the active key's
// ID. The first agent creates the first key; a joining agent receives the
// keyring in its join answer, over TLS, after proving it holds the join
// secret; a rotation hands the new key to every agent before anything is
// sealed with it (agent/apiserver). So a copy of raft.db or of a snapshot,
// a backup or a disk from a decommissioned voter without its data dir's
// key file, opens no Secret. Like Kubernetes' aescbc/aesgcm providers and
// k3s's secrets-encrypt, this protects data at rest; an agent's root user
// can read its keys, as kubelet can read every Secret its pods use.
//
// A sealed blob is: version byte, key ID length byte, key ID, 12-byte
// nonce, ciphertext. The Secret's namespace and name are the GCM
// additional data, so a ciphertext copied onto another Secret (or replayed
// under another name) does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"shoal/internal/atomicfile"
)

// FileName is the keyring's file in an agent's data dir.
const FileName = "secret-keys.json"

const (
	version = 1
	keySize = 32
)

// Key is one data key.
type Key struct {
	ID     string `json:"id"`
	Secret []byte `json:"key"`
}

// ErrUnknownKey means a blob was sealed with a key this keyring lacks
// (a rotation this agent has not received yet).
var ErrUnknownKey = errors.New("sealed with an unknown key")

// Keyring holds an agent's data keys, oldest first. It is safe for
// concurrent use; Add persists before the key is used.
type Keyring struct {
	mu   sync.RWMutex
	path string // "" keeps it in memory only (tests)
	keys []Key
}

// NewKey makes a random key. Its ID is random too, so two agents that
// both rotated (a split brain that healed) never give two keys one ID.
func NewKey() (Key, error) {
	k := Key{Secret: make([]byte, keySize)}
	id := make([]byte, 6)
	if _, err := rand.Read(k.Secret); err != nil {
		return Key{}, fmt.Errorf("new secret key: %w", err)
	}
	if _, err := rand.Read(id); err != nil {
		return Key{}, fmt.Errorf("new secret key: %w", err)
	}
	k.ID = "k" + hex.EncodeToString(id)
	return k, nil
}

// Load reads the keyring in dataDir; a missing file is an empty keyring
// that Add will create.
func Load(dataDir string) (*Keyring, error) {
	r := &Keyring{path: filepath.Join(dataDir, FileName)}
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secret keys: %w", err)
	}
	var f struct {
		Keys []Key `json:"keys"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read secret keys %s: %w", r.path, err)
	}
	for _, k := range f.Keys {
		if err := k.check(); err != nil {
			return nil, fmt.Errorf("read secret keys %s: %w", r.path, err)
		}
	}
	r.keys = f.Keys
	return r, nil
}

// InMemory is a keyring that is never written to disk.
func InMemory(keys ...Key) *Keyring { return &Keyring{keys: slices.Clone(keys)} }

func (k Key) check() error {
	if k.ID == "" || len(k.ID) > 255 {
		return fmt.Errorf("key ID %q: expected 1 to 255 characters", k.ID)
	}
	if len(k.Secret) != keySize {
		return fmt.Errorf("key %s: %d bytes, expected %d", k.ID, len(k.Secret), keySize)
	}
	return nil
}

// Add stores keys the keyring lacks and writes the file before returning,
// so that nothing is sealed with a key that a restart would lose. Keys it
// holds already are left as they are; a key whose ID it holds with other
// bytes is refused.
func (r *Keyring) Add(keys ...Key) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := slices.Clone(r.keys)
	for _, k := range keys {
		if err := k.check(); err != nil {
			return err
		}
		i := slices.IndexFunc(next, func(h Key) bool { return h.ID == k.ID })
		switch {
		case i < 0:
			next = append(next, k)
		case string(next[i].Secret) != string(k.Secret):
			return fmt.Errorf("secret key %s: a different key has this ID", k.ID)
		}
	}
	if len(next) == len(r.keys) {
		return nil
	}
	if r.path != "" {
		b, err := json.Marshal(struct {
			Keys []Key `json:"keys"`
		}{next})
		if err != nil {
			return err
		}
		if err := atomicfile.Write(r.path, b, 0o600); err != nil {
			return fmt.Errorf("write secret keys: %w", err)
		}
	}
	r.keys = next
	return nil
}

// Keys returns a copy of every key, oldest first (for a joining agent).
func (r *Keyring) Keys() []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Key, len(r.keys))
	for i, k := range r.keys {
		out[i] = Key{ID: k.ID, Secret: slices.Clone(k.Secret)}
	}
	return out
}

// Has reports whether the keyring holds the key id.
func (r *Keyring) Has(id string) bool {
	_, ok := r.key(id)
	return ok
}

func (r *Keyring) key(id string) (Key, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys {
		if k.ID == id {
			return k, true
		}
	}
	return Key{}, false
}

// Seal encrypts a Secret's data with key id, bound to its namespace and
// name.
func (r *Keyring) Seal(id, namespace, name string, data map[string][]byte) ([]byte, error) {
	k, ok := r.key(id)
	if !ok {
		return nil, fmt.Errorf("seal secret %s/%s with key %q: %w", namespace, name, id, ErrUnknownKey)
	}
	plain, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(k.Secret)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(id)+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, version, byte(len(id)))
	out = append(out, id...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, aad(namespace, name)), nil
}

// KeyID returns the ID of the key a blob was sealed with.
func KeyID(blob []byte) (string, error) {
	if len(blob) < 2 || blob[0] != version || len(blob) < 2+int(blob[1]) {
		return "", errors.New("not a sealed secret")
	}
	return string(blob[2 : 2+int(blob[1])]), nil
}

// Open decrypts a Secret's data.
func (r *Keyring) Open(namespace, name string, blob []byte) (map[string][]byte, error) {
	id, err := KeyID(blob)
	if err != nil {
		return nil, fmt.Errorf("open secret %s/%s: %w", namespace, name, err)
	}
	k, ok := r.key(id)
	if !ok {
		return nil, fmt.Errorf("open secret %s/%s (key %s): %w", namespace, name, id, ErrUnknownKey)
	}
	aead, err := newAEAD(k.Secret)
	if err != nil {
		return nil, err
	}
	rest := blob[2+len(id):]
	if len(rest) < aead.NonceSize() {
		return nil, fmt.Errorf("open secret %s/%s: truncated", namespace, name)
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad(namespace, name))
	if err != nil {
		return nil, fmt.Errorf("open secret %s/%s: %w", namespace, name, err)
	}
	var data map[string][]byte
	if err := json.Unmarshal(plain, &data); err != nil {
		return nil, fmt.Errorf("open secret %s/%s: %w", namespace, name, err)
	}
	return data, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func aad(namespace, name string) []byte { return []byte("shoal/secret/" + namespace + "/" + name) }
