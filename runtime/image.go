package runtime

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"shoal/pullauth"
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
// which, as in Kubernetes, are always pulled. creds are the pod's
// credentials for the image (pullauth.Keyring.Lookup), tried in order
// until one pulls, as kubelet tries them; each is sent only to the image's
// own registry. Without creds the pull is anonymous.
//
// An image this runtime pulled with credentials is present only for
// callers that show one it was pulled or checked with (kubelet's
// NeverVerifyPreloadedImages, the default since Kubernetes 1.35): anyone
// else's "pull" goes to the registry with their own credentials, or none,
// so a private image on a shared node is not everyone's. The check costs
// a manifest request; no layer is downloaded again.
func (r *Runtime) PullImage(ctx context.Context, image, policy string, creds ...pullauth.Credential) error {
	if err := r.pullImage(ctx, image, policy, creds, true); err != nil {
		return fmt.Errorf("pull image %s: %w", image, err)
	}
	return nil
}

// pullImage is PullImage; with check false a present image is present,
// however it was pulled (StartContainer: the reconciler pulled it for this
// pod already).
func (r *Runtime) pullImage(ctx context.Context, image, policy string, creds []pullauth.Credential, check bool) error {
	ctx = r.ctx(ctx)
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return fmt.Errorf("%w: image %q: %v", ErrInvalid, image, err)
	}
	ref := reference.TagNameOnly(named).String()
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
		present, private, err := r.imageUnpacked(ctx, ref)
		if err != nil {
			return err
		}
		if present && (!check || !private || r.pulledWith.has(ref, creds)) {
			return nil
		}
		if policy == PullNever {
			if present {
				return ErrImageNotVerified
			}
			return ErrImageNotPresent
		}
	}
	r.logger.Info("pulling image", "image", ref, "credentials", len(creds))
	registry := reference.Domain(named)
	if len(creds) == 0 {
		return r.pull(ctx, ref, registry, nil)
	}
	var errs pullErrors
	for _, c := range creds {
		err := r.pull(ctx, ref, registry, &c)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		errs = append(errs, fmt.Errorf("with the %v: %w", c, err))
	}
	return errs
}

// pull pulls ref with cred (nil: anonymously) and records how: an image
// that needed no credentials is everyone's, one pulled with cred is
// labelled private and cred remembered (in memory only) as able to pull it.
func (r *Runtime) pull(ctx context.Context, ref, registry string, cred *pullauth.Credential) error {
	opts := []client.RemoteOpt{
		client.WithPullUnpack,
		client.WithResolver(r.resolver(registry, cred)),
		client.WithPullLabel(labelPulledWithCredentials, strconv.FormatBool(cred != nil)),
	}
	if r.cfg.Snapshotter != "" {
		opts = append(opts, client.WithPullSnapshotter(r.cfg.Snapshotter))
	}
	if _, err := r.client.Pull(ctx, ref, opts...); err != nil {
		return err
	}
	if cred == nil {
		r.pulledWith.forget(ref)
	} else {
		r.pulledWith.add(ref, *cred)
	}
	return nil
}

// pullErrors is why each credential failed, in the order tried.
type pullErrors []error

func (e pullErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e pullErrors) Unwrap() []error { return e }

func (r *Runtime) lockImage(ref string) func() {
	v, _ := r.pulls.LoadOrStore(ref, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// imageUnpacked reports whether ref is stored and unpacked, and whether
// it was pulled with credentials; an image that is stored but not unpacked
// (imported elsewhere) is unpacked here.
func (r *Runtime) imageUnpacked(ctx context.Context, ref string) (present, private bool, err error) {
	img, err := r.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	private = img.Labels()[labelPulledWithCredentials] == "true"
	if r.images.get(ref, img) != nil {
		return true, private, nil
	}
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return false, false, err
	}
	if !ok {
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return false, false, fmt.Errorf("unpack: %w", err)
		}
	}
	if err := r.images.put(ctx, ref, img); err != nil {
		return false, false, err
	}
	return true, private, nil
}

// image returns ref for a container to be created from, with what the
// cache holds of it (see imageCache).
func (r *Runtime) image(ctx context.Context, ref string) (client.Image, error) {
	img, err := r.client.GetImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c := r.images.get(ref, img); c != nil {
		return c, nil
	}
	return img, nil
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
