package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"

	"shoal/cluster"
)

func fullMeta() NodeMeta {
	return NodeMeta{
		Address:  "10.0.0.12",
		APIPort:  7948,
		RaftPort: 7947,
		DNSPort:  53,
		MilliCPU: 64000,
		Memory:   512 << 30,
		// Ephemeral storage: 30 TB, the largest tag value in practice.
		EphemeralStorage: 30e12,
		GPUs:             8,
		GPUModel:         "NVIDIA H200",
		Zone:             "eu-west-1a",
		LabelsHash:       0xdeadbeefcafef00d,
		Version:          "v0.3.0-12-gabcdef",
		Role:             cluster.RaftVoter,
		PodCIDR:          "10.88.12.0/24",
	}
}

func TestMetaRoundTrip(t *testing.T) {
	notReady := fullMeta()
	notReady.RuntimeNotReady = true
	for name, m := range map[string]NodeMeta{"full": fullMeta(), "empty": {}, "runtime not ready": notReady, "only flags": {RuntimeNotReady: true}, "disk pressure": {DiskPressure: true}, "both flags": {RuntimeNotReady: true, DiskPressure: true}} {
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		if b[0] != metaVersion {
			t.Fatalf("%s: first byte %d, want version %d", name, b[0], metaVersion)
		}
		got, err := DecodeMeta(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if got != m {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", name, got, m)
		}
	}
	b, _ := fullMeta().Encode()
	t.Logf("full meta encodes to %d bytes (limit %d)", len(b), memberlist.MetaMaxSize)
}

func TestMetaTruncatesLongGPUModel(t *testing.T) {
	m := fullMeta()
	m.GPUModel = strings.Repeat("é", 300) // 600 bytes of two-byte runes
	b, err := m.Encode()
	if err != nil {
		t.Fatalf("encode with a long GPU model: %v", err)
	}
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GPUModel) > MaxGPUModel || len(got.GPUModel) < MaxGPUModel-1 {
		t.Fatalf("GPU model is %d bytes, want about %d", len(got.GPUModel), MaxGPUModel)
	}
	if !strings.HasPrefix(m.GPUModel, got.GPUModel) || strings.ContainsRune(got.GPUModel, '\uFFFD') {
		t.Fatalf("GPU model cut mid-rune: %q", got.GPUModel)
	}
}

func TestMetaRefusesOversize(t *testing.T) {
	m := fullMeta()
	m.Zone = strings.Repeat("z", 600)
	_, err := m.Encode()
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("encode of a 600-byte zone: err %v, want ErrMetaTooLarge", err)
	}
	if !strings.Contains(err.Error(), "limit 512") {
		t.Fatalf("error does not name the limit: %v", err)
	}
	// New refuses such meta instead of letting memberlist panic later.
	_, err = New(Config{NodeName: "n", Keys: [][]byte{testKey}, Meta: m})
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("New with oversize meta: err %v, want ErrMetaTooLarge", err)
	}
	if err := (NodeMeta{APIPort: 70000}).Validate(); !errors.Is(err, ErrMetaInvalid) {
		t.Fatalf("port 70000: err %v, want ErrMetaInvalid", err)
	}
}

func TestHugeLabelsAreHashed(t *testing.T) {
	labels := map[string]string{ZoneLabel: "z1"}
	for i := range 1000 {
		labels["example.com/label-"+strings.Repeat("x", i%50)+string(rune('a'+i%26))] = strings.Repeat("v", 60)
	}
	n := &cluster.Node{
		Name: "big", Address: "10.0.0.5", APIAddr: "10.0.0.5:7948", RaftAddr: "10.0.0.5:7947",
		DNSAddr: "10.0.0.5:53", Labels: labels, PodCIDR: "10.88.5.0/24",
		Allocatable: cluster.Resources{MilliCPU: 8000, Memory: 1 << 34, EphemeralStorage: 1 << 40},
		GPUs:        []cluster.GPU{{Index: 0, Model: strings.Repeat("NVIDIA GeForce RTX ", 10)}, {Index: 1}},
	}
	m := MetaFromNode(n)
	b, err := m.Encode()
	if err != nil {
		t.Fatalf("meta of a node with 1000 labels: %v", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		t.Fatalf("encoded %d bytes", len(b))
	}
	if m.Zone != "z1" || m.GPUs != 2 || m.APIPort != 7948 || m.RaftPort != 7947 || m.DNSPort != 53 || m.MilliCPU != 8000 || m.EphemeralStorage != 1<<40 {
		t.Fatalf("MetaFromNode: %+v", m)
	}
	if m.LabelsHash == 0 || m.LabelsHash != HashLabels(maps.Clone(labels)) {
		t.Fatal("labels hash missing or unstable")
	}
	labels["new"] = "label"
	if HashLabels(labels) == m.LabelsHash {
		t.Fatal("labels hash did not change with the labels")
	}
	if ZoneOf(map[string]string{TopologyLabel: "k8s-zone"}) != "k8s-zone" {
		t.Fatal("topology zone label ignored")
	}
}

func TestDecodeMetaSkipsUnknownFields(t *testing.T) {
	m := fullMeta()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// A newer agent's fields: tags this version does not know, one of them
	// with a multi-byte length.
	b = putField(b, 200, []byte("future"))
	b = putField(b, 201, bytes.Repeat([]byte{1}, 200))
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatalf("decode with unknown fields: %v", err)
	}
	if got != m {
		t.Fatalf("got %+v, want %+v", got, m)
	}
}

// TestMetaRuntimeNotReadyCompat: an older agent's meta, which has no flags
// field, decodes as runtime ready; the flag costs three bytes only when
// set; flag bits of a later version are ignored.
func TestMetaRuntimeNotReadyCompat(t *testing.T) {
	ready, err := fullMeta().Encode()
	if err != nil {
		t.Fatal(err)
	}
	// The encoding of a meta written before the flags existed: every
	// field but flags, byte for byte what a ready node writes today.
	old := []byte{metaVersion}
	old = putString(old, tagAddress, "10.0.0.12")
	old = putUint(old, tagAPIPort, 7948)
	old = putString(old, tagPodCIDR, "10.88.12.0/24")
	m, err := DecodeMeta(old)
	if err != nil || m.RuntimeNotReady || m.APIPort != 7948 || m.PodCIDR != "10.88.12.0/24" {
		t.Fatalf("old meta decodes to %+v, %v", m, err)
	}

	nr := fullMeta()
	nr.RuntimeNotReady = true
	b, err := nr.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != len(ready)+3 {
		t.Errorf("the flag costs %d bytes, want 3", len(b)-len(ready))
	}
	// A later version's extra flag bits.
	future := putUint([]byte{metaVersion}, tagFlags, flagRuntimeNotReady|1<<9)
	if m, err := DecodeMeta(future); err != nil || !m.RuntimeNotReady {
		t.Fatalf("future flags decode to %+v, %v", m, err)
	}
	if m, err := DecodeMeta(putUint([]byte{metaVersion}, tagFlags, 1<<5)); err != nil || m.RuntimeNotReady {
		t.Fatalf("an unknown flag alone decodes to %+v, %v", m, err)
	}
}

func TestDecodeMetaRejectsGarbage(t *testing.T) {
	good, _ := fullMeta().Encode()
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version 2":   {2, tagAPIPort, 1, 1},
		"truncated":   good[:len(good)-3],
		"bad length":  {metaVersion, tagZone, 0xff},
		"port range":  putField([]byte{metaVersion}, tagAPIPort, []byte{0xff, 0xff, 0x7f}),
		"short hash":  putField([]byte{metaVersion}, tagLabelsHash, []byte{1, 2}),
		"bad varint":  putField([]byte{metaVersion}, tagMemory, []byte{0x80}),
		"bad flags":   putField([]byte{metaVersion}, tagFlags, []byte{0x80}),
		"int64 range": putField([]byte{metaVersion}, tagMemory, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
	} {
		if _, err := DecodeMeta(b); !errors.Is(err, ErrMetaInvalid) {
			t.Errorf("%s: err %v, want ErrMetaInvalid", name, err)
		}
	}
}

func TestWithDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":       "10.0.0.1:7946",
		"10.0.0.1:9000":  "10.0.0.1:9000",
		"node-a":         "node-a:7946",
		"::1":            "[::1]:7946",
		"[::1]":          "[::1]:7946",
		"[fe80::1]:8000": "[fe80::1]:8000",
	} {
		if got := withDefaultPort(in); got != want {
			t.Errorf("withDefaultPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	keys := [][]byte{testKey}
	ok := Config{NodeName: "a", Keys: keys}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		c    Config
		want string // in the error
	}{
		"no name":        {Config{Keys: keys}, "node name"},
		"no keys":        {Config{NodeName: "a"}, "no gossip key"},
		"empty keyring":  {Config{NodeName: "a", Keys: [][]byte{}}, "no gossip key"},
		"short key":      {Config{NodeName: "a", Keys: [][]byte{testKey, []byte("0123456789")}}, "key 1 is 10 bytes"},
		"repeated key":   {Config{NodeName: "a", Keys: [][]byte{testKey, make([]byte, 16), make([]byte, 16)}}, "key 2 repeats key 1"},
		"bad port":       {Config{NodeName: "a", Keys: keys, BindPort: 70000}, "bind port"},
		"bad profile":    {Config{NodeName: "a", Keys: keys, Profile: "wan"}, "profile"},
		"negative":       {Config{NodeName: "a", Keys: keys, ProbeInterval: -1}, "negative"},
		"negative scale": {Config{NodeName: "a", Keys: keys, TimeScale: -2}, "negative"},
		"faster scale":   {Config{NodeName: "a", Keys: keys, TimeScale: 0.5}, "time scale 0.5"},
	} {
		err := tc.c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want ErrConfig saying %q", name, err, tc.want)
		}
	}
}

// worstCaseNode is the largest node a real cluster produces: every field
// at the longest value Shoal accepts or the hardware reports, so the meta
// budget is checked against it rather than against a typical node.
func worstCaseNode() *cluster.Node {
	labels := map[string]string{
		// A label value is at most 63 characters (Kubernetes' rule, which
		// Shoal's label validation follows), so the zone is too.
		TopologyLabel: strings.Repeat("z", 63),
	}
	for i := range 200 {
		labels[fmt.Sprintf("example.com/feature-%03d", i)] = strings.Repeat("v", 63)
	}
	gpus := make([]cluster.GPU, 16)
	for i := range gpus {
		gpus[i] = cluster.GPU{Index: i, Model: "NVIDIA H200 NVL 141GB HBM3e with a vendor suffix that runs on", MemoryBytes: 141 << 30}
	}
	// The longest textual IPv6 address (IPv4-mapped) and IPv6 pod range.
	const ip6 = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
	return &cluster.Node{
		Name:     strings.Repeat("n", 63),
		Address:  ip6,
		APIAddr:  "[" + ip6 + "]:65535",
		RaftAddr: "[" + ip6 + "]:65535",
		DNSAddr:  "[" + ip6 + "]:65535",
		Labels:   labels,
		Allocatable: cluster.Resources{
			MilliCPU: 1 << 40, Memory: 1<<63 - 1, EphemeralStorage: 1<<63 - 1, GPU: 16,
		},
		GPUs:    gpus,
		PodCIDR: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120",
		Raft:    cluster.RaftNonvoter,
		// git describe of a dirty tree far from its tag, with a long tag.
		AgentVersion: "v10.20.30-rc.100-1234-gabcdef0123456789abcdef0123456789abcdef01-dirty",
	}
}

func TestWorstCaseMetaFitsMemberlist(t *testing.T) {
	m := MetaFromNode(worstCaseNode())
	b, err := m.Encode()
	if err != nil {
		t.Fatalf("worst-case node meta does not encode: %v", err)
	}
	// Headroom for fields later versions add: the budget is shared with
	// them, so today's worst case must leave a good part of it.
	if limit := memberlist.MetaMaxSize * 3 / 4; len(b) > limit {
		t.Fatalf("worst-case meta is %d bytes, want at most %d (3/4 of memberlist's %d)", len(b), limit, memberlist.MetaMaxSize)
	}
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatalf("decode worst case: %v", err)
	}
	if got.GPUs != 16 || len(got.GPUModel) > MaxGPUModel || got.Zone != strings.Repeat("z", 63) || got.LabelsHash == 0 {
		t.Fatalf("worst case decoded to %+v", got)
	}
	t.Logf("worst-case meta encodes to %d bytes (limit %d)", len(b), memberlist.MetaMaxSize)
}
