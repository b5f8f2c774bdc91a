package scheduler

import (
	"math/rand/v2"
	"strconv"
)

// IDSource supplies the only randomness a pass needs: pod UIDs and the
// random suffixes of Deployment pod names. Passing it in keeps the
// scheduler deterministic under test.
type IDSource interface {
	// NewUID returns an identifier no other object has.
	NewUID() string
	// IntN returns a uniformly distributed int in [0, n).
	IntN(n int) int
}

// RandIDs is an IDSource over a math/rand/v2 generator: UIDs are random
// (version 4 style) UUIDs. The leader seeds it from crypto/rand; tests seed
// it with constants. It is not safe for concurrent use.
type RandIDs struct {
	r *rand.Rand
}

// NewRandIDs returns an IDSource seeded with seed1 and seed2 (PCG).
func NewRandIDs(seed1, seed2 uint64) *RandIDs {
	return &RandIDs{r: rand.New(rand.NewPCG(seed1, seed2))}
}

// NewUID returns a random UUID such as "0b7d…-4…-8…".
func (g *RandIDs) NewUID() string {
	hi, lo := g.r.Uint64(), g.r.Uint64()
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	var b [36]byte
	hex := func(dst []byte, v uint64, n int) {
		for i := n - 1; i >= 0; i-- {
			dst[i] = "0123456789abcdef"[v&0xf]
			v >>= 4
		}
	}
	hex(b[0:8], hi>>32, 8)
	b[8] = '-'
	hex(b[9:13], hi>>16, 4)
	b[13] = '-'
	hex(b[14:18], hi, 4)
	b[18] = '-'
	hex(b[19:23], lo>>48, 4)
	b[23] = '-'
	hex(b[24:36], lo, 12)
	return string(b[:])
}

// IntN returns a random int in [0, n).
func (g *RandIDs) IntN(n int) int { return g.r.IntN(n) }

// suffixAlphabet is Kubernetes' (k8s.io/apimachinery/pkg/util/rand): lower
// case letters and digits without vowels and look-alikes, so that generated
// names never spell words or confuse 0/o and 1/l.
const suffixAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// suffix returns n random characters of suffixAlphabet.
func suffix(ids IDSource, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = suffixAlphabet[ids.IntN(len(suffixAlphabet))]
	}
	return string(b)
}

// statefulName is a StatefulSet pod's name: "<sts>-<ordinal>".
func statefulName(sts string, ordinal int) string {
	return sts + "-" + strconv.Itoa(ordinal)
}
