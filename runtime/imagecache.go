package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// resolvedImage is an image whose config and layers were read once.
// Starting a container asks for them three or four times (is it unpacked,
// the spec's defaults, the user, the snapshot's parent), each a walk from
// the index to the config through several calls to containerd; a hundred
// pods of one image then cost a hundred times that.
type resolvedImage struct {
	client.Image
	config ocispec.Descriptor
	spec   ocispec.Image
	rootfs []digest.Digest
}

func (i *resolvedImage) Config(context.Context) (ocispec.Descriptor, error) { return i.config, nil }
func (i *resolvedImage) Spec(context.Context) (ocispec.Image, error)        { return i.spec, nil }
func (i *resolvedImage) RootFS(context.Context) ([]digest.Digest, error) {
	return slices.Clone(i.rootfs), nil
}

// imageCache holds what was read of unpacked images, by name and target:
// an entry serves only while the name still points at the same content
// (pulled again or retagged, it is read again). Labels and name come from
// the caller's fresh lookup, never from the cache.
type imageCache struct {
	mu sync.Mutex
	m  map[string]*resolvedImage // normalized ref → last resolution
}

// get returns img with its cached resolution, or nil when there is none
// for img's current target.
func (c *imageCache) get(ref string, img client.Image) client.Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[ref]
	if e == nil || e.Target().Digest != img.Target().Digest {
		return nil
	}
	return &resolvedImage{Image: img, config: e.config, spec: e.spec, rootfs: e.rootfs}
}

// put reads img's config and layers and keeps them; only for an image
// known to be unpacked.
func (c *imageCache) put(ctx context.Context, ref string, img client.Image) error {
	config, err := img.Config(ctx)
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	rootfs, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("image layers: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*resolvedImage{}
	}
	c.m[ref] = &resolvedImage{Image: img, config: config, spec: spec, rootfs: rootfs}
	return nil
}

// forget drops ref: a container create that found its layers missing
// (a snapshot removed by hand) makes the next start check again.
func (c *imageCache) forget(ref string) {
	c.mu.Lock()
	delete(c.m, ref)
	c.mu.Unlock()
}
