package runtime

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
)

// Image pull policies, as Kubernetes spells them.
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// NormalizeImage turns a short reference ("busybox", "127.0.0.1:5000/x")
// into the full name containerd stores ("docker.io/library/busybox:latest").
func NormalizeImage(image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("%w: image %q: %v", ErrInvalid, image, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// PullImage makes image available locally and unpacked for the
// snapshotter. Policy "" means IfNotPresent, except for ":latest" images
// which, as in Kubernetes, are always pulled.
func (r *Runtime) PullImage(ctx context.Context, image, policy string) error {
	if err := r.pullImage(ctx, image, policy); err != nil {
		return fmt.Errorf("pull image %s: %w", image, err)
	}
	return nil
}

func (r *Runtime) pullImage(ctx context.Context, image, policy string) error {
	ctx = r.ctx(ctx)
	ref, err := NormalizeImage(image)
	if err != nil {
		return err
	}
	// One pull or unpack per image at a time: the pods of a rollout ask
	// for the same image at once, and the later ones then find it present.
	unlock := r.lockImage(ref)
	defer unlock()
	if policy == "" {
		policy = PullIfNotPresent
		if strings.HasSuffix(ref, ":latest") {
			policy = PullAlways
		}
	}
	if policy != PullAlways {
		present, err := r.imageUnpacked(ctx, ref)
		if err != nil {
			return err
		}
		if present {
			return nil
		}
		if policy == PullNever {
			return ErrImageNotPresent
		}
	}
	r.logger.Info("pulling image", "image", ref)
	opts := []client.RemoteOpt{
		client.WithPullUnpack,
		client.WithResolver(r.resolver()),
	}
	if r.cfg.Snapshotter != "" {
		opts = append(opts, client.WithPullSnapshotter(r.cfg.Snapshotter))
	}
	if _, err := r.client.Pull(ctx, ref, opts...); err != nil {
		return err
	}
	return nil
}

func (r *Runtime) lockImage(ref string) func() {
	v, _ := r.pulls.LoadOrStore(ref, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// imageUnpacked reports whether ref is stored and unpacked; an image that
// is stored but not unpacked (imported elsewhere) is unpacked here.
func (r *Runtime) imageUnpacked(ctx context.Context, ref string) (bool, error) {
	img, err := r.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil || ok {
		return ok, err
	}
	if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
		return false, fmt.Errorf("unpack: %w", err)
	}
	return true, nil
}

// resolver talks plain HTTP to loopback and localhost registries (as
// Docker does) and to the configured insecure ones.
func (r *Runtime) resolver() remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(func(host string) (bool, error) {
			return r.plainHTTP(host), nil
		})),
	})
}

// plainHTTP reports whether registry host (host or host:port) is spoken to
// without TLS.
func (r *Runtime) plainHTTP(host string) bool {
	if ok, _ := docker.MatchLocalhost(host); ok {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	return slices.Contains(r.cfg.InsecureRegistries, host) || slices.Contains(r.cfg.InsecureRegistries, h)
}

// ImportImage loads an OCI or Docker image archive and unpacks its images;
// it returns their names.
func (r *Runtime) ImportImage(ctx context.Context, archive io.Reader) ([]string, error) {
	ctx = r.ctx(ctx)
	imgs, err := r.client.Import(ctx, archive,
		// Archives naming their image only with the OCI ref annotation
		// ("busybox:test") get Docker's normalisation.
		client.WithImageRefTranslator(func(ref string) string {
			if n, err := NormalizeImage(ref); err == nil {
				return n
			}
			return ref
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("import image: %w", err)
	}
	var names []string
	for _, i := range imgs {
		img := client.NewImage(r.client, i)
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("import image: unpack %s: %w", i.Name, err)
		}
		names = append(names, i.Name)
	}
	return names, nil
}
