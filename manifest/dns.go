package manifest

import (
	"net/netip"
	"strings"

	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Kubernetes' limits on a pod's DNS configuration (and resolv.conf's
// classic ones).
const (
	maxDNSNameservers    = 3
	maxDNSSearchPaths    = 32
	maxDNSSearchListChar = 2048
)

// podDNS converts dnsPolicy and dnsConfig with Kubernetes' validation.
func (c *conv) podDNS(s *corev1.PodSpec, p string, out *cluster.PodSpec) {
	switch pol := cluster.DNSPolicy(s.DNSPolicy); pol {
	case "", cluster.DNSClusterFirst:
		// Stored as "": a spec that says it is the same template as one
		// that does not.
	case cluster.DNSClusterFirstWithHostNet, cluster.DNSDefault, cluster.DNSNone:
		out.DNSPolicy = pol
	default:
		c.errf(p+".dnsPolicy", "%q is not valid (ClusterFirst, ClusterFirstWithHostNet, Default or None)", pol)
	}
	dc := s.DNSConfig
	if dc == nil {
		if out.DNSPolicy == cluster.DNSNone {
			c.errf(p+".dnsConfig", "required when dnsPolicy is None (at least one nameserver)")
		}
		return
	}
	dp := p + ".dnsConfig"
	cfg := &cluster.PodDNSConfig{Nameservers: sliceOrNil(dc.Nameservers), Searches: sliceOrNil(dc.Searches)}
	if len(dc.Nameservers) > maxDNSNameservers {
		c.errf(dp+".nameservers", "%d nameservers: at most %d", len(dc.Nameservers), maxDNSNameservers)
	}
	if out.DNSPolicy == cluster.DNSNone && len(dc.Nameservers) == 0 {
		c.errf(dp+".nameservers", "at least one is required when dnsPolicy is None")
	}
	for i, ns := range dc.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			c.errf(index(dp+".nameservers", i), "%q is not an IP address", ns)
		}
	}
	if len(dc.Searches) > maxDNSSearchPaths {
		c.errf(dp+".searches", "%d search paths: at most %d", len(dc.Searches), maxDNSSearchPaths)
	}
	if n := len(strings.Join(dc.Searches, " ")); n > maxDNSSearchListChar {
		c.errf(dp+".searches", "%d characters (spaces included): at most %d", n, maxDNSSearchListChar)
	}
	for i, d := range dc.Searches {
		// A trailing dot (an absolute name) is allowed, as in Kubernetes.
		c.check(index(dp+".searches", i), d, validation.IsDNS1123Subdomain(strings.TrimSuffix(d, ".")))
	}
	for i, o := range dc.Options {
		if o.Name == "" {
			c.errf(index(dp+".options", i)+".name", "required")
		} else if strings.ContainsAny(o.Name, " \t\n:") {
			c.errf(index(dp+".options", i)+".name", "%q may not contain spaces or ':' (put the value in value)", o.Name)
		}
		if o.Value != nil && strings.ContainsAny(*o.Value, " \t\n") {
			c.errf(index(dp+".options", i)+".value", "%q may not contain spaces", *o.Value)
		}
		opt := cluster.PodDNSOption{Name: o.Name}
		if o.Value != nil {
			v := *o.Value
			opt.Value = &v
		}
		cfg.Options = append(cfg.Options, opt)
	}
	out.DNSConfig = cfg
}

// serviceAccount keeps serviceAccountName (or the deprecated
// serviceAccount it replaced) and automountServiceAccountToken. Shoal has
// no Kubernetes API, so no token is ever mounted; describe says so.
func (c *conv) serviceAccount(s *corev1.PodSpec, p string, out *cluster.PodSpec) {
	name := s.ServiceAccountName
	switch {
	case name == "":
		name = s.DeprecatedServiceAccount
	case s.DeprecatedServiceAccount != "" && s.DeprecatedServiceAccount != name:
		c.errf(p+".serviceAccount", "%q differs from serviceAccountName %q (serviceAccount is its deprecated name: drop it)", s.DeprecatedServiceAccount, name)
	}
	if name != "" {
		path := p + ".serviceAccountName"
		if s.ServiceAccountName == "" {
			path = p + ".serviceAccount"
		}
		c.check(path, name, validation.IsDNS1123Subdomain(name))
	}
	out.ServiceAccountName = name
	if b := s.AutomountServiceAccountToken; b != nil {
		v := *b
		out.AutomountServiceAccountToken = &v
	}
}
