package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

// FuzzDecodeMeta: meta comes from every member, of this version or a
// later one, so no input may panic DecodeMeta, and what it accepts must be
// a meta this agent could have sent: it validates, encodes within the
// budget when the input fitted it, and survives a round trip unchanged but
// for the GPU model, which Encode cuts.
func FuzzDecodeMeta(f *testing.F) {
	long := fullMeta()
	long.GPUModel = strings.Repeat("é", 40)
	notReady := fullMeta()
	notReady.RuntimeNotReady = true
	for _, m := range []NodeMeta{fullMeta(), {}, long, {Address: "::1", DNSPort: 65535, MilliCPU: 1<<63 - 1}, notReady, {RuntimeNotReady: true}, {DiskPressure: true}} {
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	full, _ := fullMeta().Encode()
	maxUint := binary.AppendUvarint(nil, 1<<64-1)
	for _, b := range [][]byte{
		append(bytes.Clone(full), 99, 3, 'n', 'e', 'w'),                        // a field of a later version
		append(bytes.Clone(full), tagZone, 1, 'z'),                             // a field twice: the last wins
		{metaVersion, tagAPIPort, 3, 0x80, 0x80, 0x04},                         // port 65536
		{metaVersion, tagAPIPort, 2, 0x80, 0x00},                               // a zero written long
		append([]byte{metaVersion, tagMemory, byte(len(maxUint))}, maxUint...), // overflows int64
		{metaVersion, tagLabelsHash, 7, 1, 2, 3, 4, 5, 6, 7},
		{metaVersion, tagZone, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // a length past 2^63
		{metaVersion, tagGPUModel, 0x80},                                                   // a truncated length
		{metaVersion, tagFlags, 2, 0x83, 0x04},                                             // flag bits of a later version
		{metaVersion, tagFlags, 1, 0x80},                                                   // a truncated varint
		{metaVersion + 1},
		{},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrMetaInvalid) {
				t.Fatalf("error %v is not ErrMetaInvalid", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded %+v, which does not validate: %v", m, err)
		}
		enc, err := m.Encode()
		if err != nil {
			// Encode writes each field at most once and in its shortest
			// form, so only an input over the budget can give a meta over it.
			if !errors.Is(err, ErrMetaTooLarge) || len(b) <= memberlist.MetaMaxSize {
				t.Fatalf("encode of %+v, decoded from %d bytes: %v", m, len(b), err)
			}
			return
		}
		if len(enc) > len(b) {
			t.Fatalf("%d bytes re-encode to %d", len(b), len(enc))
		}
		again, err := DecodeMeta(enc)
		if err != nil {
			t.Fatalf("decode of the re-encoded meta: %v", err)
		}
		want := m
		want.GPUModel = truncate(m.GPUModel, MaxGPUModel)
		if again != want {
			t.Fatalf("round trip\n got %+v\nwant %+v", again, want)
		}
		if enc2, _ := again.Encode(); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding is not canonical: %x then %x", enc, enc2)
		}
	})
}
