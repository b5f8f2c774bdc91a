package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"shoal/agent/api"
	"shoal/seal"
)

// Join asks the agent to admit this one. c must verify the agent against
// the CA digest of the join token (pki.Pinned) before the secret leaves.
func (c *Client) Join(ctx context.Context, req api.JoinRequest) (*api.JoinResponse, error) {
	var out api.JoinResponse
	return &out, c.do(ctx, http.MethodPost, "/join", nil, req, &out)
}

// RenewCertificate asks for a new node certificate for a new public key.
func (c *Client) RenewCertificate(ctx context.Context, publicKeyPEM []byte) (string, error) {
	var out api.CertificateResponse
	err := c.do(ctx, http.MethodPost, "/internal/certificate", nil, api.CertificateRequest{PublicKey: string(publicKeyPEM)}, &out)
	return out.Certificate, err
}

// CreateToken makes a user token.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (*api.TokenResponse, error) {
	var out api.TokenResponse
	return &out, c.do(ctx, http.MethodPost, "/tokens", nil, req, &out)
}

// Tokens lists the user tokens, without their secrets.
func (c *Client) Tokens(ctx context.Context) ([]api.TokenInfo, error) {
	var out []api.TokenInfo
	return out, c.do(ctx, http.MethodGet, "/tokens", nil, nil, &out)
}

// RevokeToken deletes a user token by name or ID.
func (c *Client) RevokeToken(ctx context.Context, nameOrID string) error {
	return c.do(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(nameOrID), nil, nil, nil)
}

// RotateJoinToken replaces the join secret and returns the new join token.
func (c *Client) RotateJoinToken(ctx context.Context) (string, error) {
	var out api.JoinTokenResponse
	return out.Token, c.do(ctx, http.MethodPost, "/join-token", nil, nil, &out)
}

// RotateGossipKey replaces the cluster's gossip key while it runs.
func (c *Client) RotateGossipKey(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/gossip/rotate", nil, nil, nil)
}

// Policy reads the cluster's pod security policy.
func (c *Client) Policy(ctx context.Context) (*api.Policy, error) {
	var out api.Policy
	return &out, c.do(ctx, http.MethodGet, "/policy", nil, nil, &out)
}

// SetPolicy sets the cluster's pod security policy.
func (c *Client) SetPolicy(ctx context.Context, p api.Policy) error {
	return c.do(ctx, http.MethodPut, "/policy", nil, p, nil)
}

// SecretKeys fetches an agent's keys for Secrets (nodes only).
func (c *Client) SecretKeys(ctx context.Context) ([]seal.Key, error) {
	var out api.SecretKeys
	err := c.do(ctx, http.MethodGet, "/internal/secret-keys", nil, nil, &out)
	return out.Keys, err
}

// RotateSecretKey makes a new key for Secrets and re-seals them with it.
func (c *Client) RotateSecretKey(ctx context.Context) (*api.RotateSecretKeyResponse, error) {
	var out api.RotateSecretKeyResponse
	err := c.do(ctx, http.MethodPost, "/secrets/rotate-key", nil, nil, &out)
	return &out, err
}
