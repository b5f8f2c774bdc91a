package gpu

import (
	"reflect"
	"strings"
	"testing"

	"shoal/cluster"
)

func TestLabels(t *testing.T) {
	h100 := cluster.GPU{Index: 0, UUID: "GPU-a", Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 85520809984}
	tests := []struct {
		name string
		gpus []cluster.GPU
		want map[string]string
	}{
		{name: "none", want: map[string]string{}},
		{
			name: "discovered",
			gpus: []cluster.GPU{h100, {Index: 1, UUID: "GPU-b", Model: h100.Model, MemoryBytes: h100.MemoryBytes}},
			want: map[string]string{LabelCount: "2", LabelProduct: "NVIDIA-H100-80GB-HBM3", LabelMemory: "81559"},
		},
		{
			name: "advertised: count only",
			gpus: Advertised(3),
			want: map[string]string{LabelCount: "3"},
		},
		{
			name: "mixed models: the lowest index describes the node",
			gpus: []cluster.GPU{
				{Index: 1, Model: "Tesla T4", MemoryBytes: 16 << 30},
				{Index: 0, Model: "NVIDIA A100-SXM4-40GB", MemoryBytes: 40 << 30},
			},
			want: map[string]string{LabelCount: "2", LabelProduct: "NVIDIA-A100-SXM4-40GB", LabelMemory: "40960"},
		},
		{
			name: "characters a label cannot hold are dropped",
			gpus: []cluster.GPU{{Model: " NVIDIA GeForce RTX 4090 (rev/a) ", MemoryBytes: 1<<20 - 1}},
			want: map[string]string{LabelCount: "1", LabelProduct: "NVIDIA-GeForce-RTX-4090-reva"},
		},
		{
			name: "long names are cut to 63 characters",
			gpus: []cluster.GPU{{Model: strings.Repeat("ab ", 30)}},
			want: map[string]string{LabelCount: "1", LabelProduct: strings.TrimSuffix(strings.Repeat("ab-", 21), "-")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Labels(tt.gpus)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Labels = %v, want %v", got, tt.want)
			}
			if p := got[LabelProduct]; len(p) > 63 {
				t.Errorf("product label %q is longer than 63", p)
			}
		})
	}
}

func TestAdvertised(t *testing.T) {
	tests := []struct {
		n    int
		want []cluster.GPU
	}{
		{n: -1},
		{n: 0},
		{n: 2, want: []cluster.GPU{{Index: 0}, {Index: 1}}},
	}
	for _, tt := range tests {
		got := Advertised(tt.n)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Advertised(%d) = %+v, want %+v", tt.n, got, tt.want)
		}
		for _, g := range got {
			if g.ID() != string(rune('0'+g.Index)) {
				t.Errorf("advertised GPU %d has ID %q, want its index", g.Index, g.ID())
			}
		}
	}
}

func TestMerge(t *testing.T) {
	g := func(i int) cluster.GPU { return cluster.GPU{Index: i, UUID: "GPU-" + string(rune('a'+i)), Model: "m"} }
	found := []cluster.GPU{g(2), g(0), g(1)} // NVML order is not trusted to be sorted
	tests := []struct {
		name       string
		discovered []cluster.GPU
		advertised int
		want       []cluster.GPU
	}{
		{name: "nothing at all", advertised: -1},
		{name: "no flag: discovered, by index", discovered: found, advertised: -1, want: []cluster.GPU{g(0), g(1), g(2)}},
		{name: "NVML saw none: the flag advertises", advertised: 2, want: []cluster.GPU{{Index: 0}, {Index: 1}}},
		{name: "the flag restricts to the first N", discovered: found, advertised: 2, want: []cluster.GPU{g(0), g(1)}},
		{name: "the flag cannot add", discovered: found, advertised: 5, want: []cluster.GPU{g(0), g(1), g(2)}},
		{name: "zero withholds all", discovered: found, advertised: 0},
		{name: "zero without NVML", advertised: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]cluster.GPU(nil), tt.discovered...)
			got := Merge(tt.discovered, tt.advertised)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Merge = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(before, tt.discovered) {
				t.Errorf("Merge changed its input: %+v", tt.discovered)
			}
			if len(got) > 0 {
				_ = append(got, cluster.GPU{Index: 9}) // must not write into discovered
				if !reflect.DeepEqual(before, tt.discovered) {
					t.Errorf("appending to Merge's result changed its input")
				}
			}
		})
	}
}
