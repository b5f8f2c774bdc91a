package node

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"shoal/cluster"
	"shoal/pullauth"
)

// pullImage pulls a.image for pod with the registry credentials of the
// pod's imagePullSecrets. As in kubelet, a Secret that cannot be had
// (missing, or not to be opened on this node) is skipped and the pull
// tried without it; if the pull then fails, its error says which Secrets
// were missing, since that is likely why.
func (w *worker) pullImage(ctx context.Context, log *slog.Logger, pod *cluster.Pod, a action) error {
	creds, unavailable, err := pullCredentials(w.r.cfg.Source.State(), w.r.cfg.Secrets, pod, a.image)
	if err != nil {
		return fmt.Errorf("pull image %s: %w", a.image, err)
	}
	if len(unavailable) > 0 {
		log.Warn("unable to retrieve some image pull secrets; the pull may not succeed",
			"pod", pod.Key(), "image", a.image, "problems", strings.Join(unavailable, "; "))
	}
	err = w.r.cfg.Runtime.PullImage(ctx, a.image, a.policy, creds...)
	if err != nil && len(unavailable) > 0 {
		return fmt.Errorf("%w (unable to retrieve some image pull secrets: %s)", err, strings.Join(unavailable, "; "))
	}
	return err
}

// pullCredentials returns the credentials to try, in order, for pulling
// image for pod: those of the registry Secrets its imagePullSecrets name
// (in its namespace) that match the image, as kubelet matches them.
// unavailable says why a named Secret could not be used. A Secret whose
// Docker config is malformed fails the pull, as in kubelet; one of
// another type is ignored.
func pullCredentials(st *cluster.State, secrets SecretOpener, pod *cluster.Pod, image string) (creds []pullauth.Credential, unavailable []string, err error) {
	names := pod.Spec.ImagePullSecrets
	if len(names) == 0 {
		return nil, nil, nil
	}
	var ring pullauth.Keyring
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			continue // the same credentials would only be tried twice
		}
		o, ok := st.Object(cluster.KindSecret, pod.Namespace, name)
		if !ok {
			unavailable = append(unavailable, fmt.Sprintf("secret %q not found", name))
			continue
		}
		if secrets == nil {
			unavailable = append(unavailable, fmt.Sprintf("secret %q: this node has no keys to open Secrets", name))
			continue
		}
		data, err := secrets.Open(o.Namespace, o.Name, o.Sealed)
		if err != nil {
			unavailable = append(unavailable, err.Error())
			continue
		}
		cfg, _, err := pullauth.FromSecret(o.SecretType, data, "secret "+o.Namespace+"/"+o.Name)
		if err != nil {
			return nil, unavailable, fmt.Errorf("image pull secret %q: %w", name, err)
		}
		ring.Add(cfg)
	}
	creds, err = ring.Lookup(image)
	return creds, unavailable, err
}
