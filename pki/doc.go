// Package pki is the cluster's certificate authority and its nodes'
// identities. It does no network or file I/O and reads no clock: callers
// pass `now`, and only crypto/rand is consulted implicitly.
//
// Trust model. A cluster has exactly one CA, a self-signed P-256 key
// created once at bootstrap; every node trusts that CA and nothing else, so
// a certificate from any other issuer, public CAs included, is refused.
// The CA signs one certificate per node, with subject CN "node:<name>" and
// O "shoal:nodes", carrying the node's name and addresses as SANs so that
// ordinary hostname verification applies when nodes dial each other.
// RequireNodeCert lets a listener (Raft) admit only such node certificates.
//
// Joining. A joiner holds nothing but a join token SHOAL1-<CA digest>-<secret>.
// The digest is the SHA-256 of the CA certificate, so the joiner can verify
// the seed it dials (Pinned) before it sends the secret: a man in the middle
// cannot learn the secret, and the cluster stores only its hash.
package pki
