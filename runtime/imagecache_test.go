package runtime

import (
	"context"
	"errors"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testImage answers what imageCache reads; anything else panics (the
// embedded interface is nil), so a test that reaches containerd fails.
type testImage struct {
	client.Image
	target digest.Digest
	reads  *int
	err    error
}

func (i testImage) Target() ocispec.Descriptor { return ocispec.Descriptor{Digest: i.target} }
func (i testImage) Config(context.Context) (ocispec.Descriptor, error) {
	*i.reads++
	return ocispec.Descriptor{Digest: "sha256:config-" + i.target}, i.err
}
func (i testImage) Spec(context.Context) (ocispec.Image, error) {
	*i.reads++
	return ocispec.Image{Config: ocispec.ImageConfig{User: "1000"}}, i.err
}
func (i testImage) RootFS(context.Context) ([]digest.Digest, error) {
	*i.reads++
	return []digest.Digest{"sha256:layer-" + i.target}, i.err
}

func TestImageCache(t *testing.T) {
	ctx := context.Background()
	const ref = "127.0.0.1:5000/app:1"
	var reads int
	v1 := testImage{target: "sha256:one", reads: &reads}
	v2 := testImage{target: "sha256:two", reads: &reads}
	var c imageCache
	for _, tc := range []struct {
		name   string
		do     func() error
		lookup testImage
		hit    bool
		reads  int // total image reads so far
	}{
		{name: "empty", lookup: v1, hit: false},
		{name: "after put", do: func() error { return c.put(ctx, ref, v1) }, lookup: v1, hit: true, reads: 3},
		{name: "retagged", lookup: v2, hit: false, reads: 3},
		{name: "put fails", do: func() error {
			return c.put(ctx, ref, testImage{target: "sha256:two", reads: &reads, err: errors.New("gone")})
		}, lookup: v1, hit: true, reads: 4},
		{name: "forgotten", do: func() error { c.forget(ref); return nil }, lookup: v1, hit: false, reads: 4},
	} {
		if tc.do != nil {
			// A failing put keeps what was there.
			_ = tc.do()
		}
		got := c.get(ref, tc.lookup)
		if (got != nil) != tc.hit {
			t.Fatalf("%s: get = %v, want hit %v", tc.name, got, tc.hit)
		}
		if reads != tc.reads {
			t.Errorf("%s: %d reads of the image, want %d", tc.name, reads, tc.reads)
		}
		if got == nil {
			continue
		}
		before := reads
		spec, _ := got.Spec(ctx)
		rootfs, _ := got.RootFS(ctx)
		config, _ := got.Config(ctx)
		if reads != before || spec.Config.User != "1000" || len(rootfs) != 1 || rootfs[0] != "sha256:layer-"+tc.lookup.target ||
			config.Digest != "sha256:config-"+tc.lookup.target || got.Target().Digest != tc.lookup.target {
			t.Errorf("%s: cached image read %d times, spec %+v rootfs %v config %v", tc.name, reads-before, spec.Config, rootfs, config)
		}
		rootfs[0] = "changed"
		if again, _ := got.RootFS(ctx); again[0] == "changed" {
			t.Errorf("%s: RootFS hands out the cache's own slice", tc.name)
		}
	}
}
