// Package api holds the agent's HTTP API contract: the routes' prefix and
// the request and answer types that the server (agent/apiserver) and the
// client (agent/apiclient) share, and the rules both apply to them.
package api

import (
	"net/http"
	"time"

	"shoal/cluster"
	"shoal/seal"
)

// PathPrefix is where every route of version 1 lives.
const PathPrefix = "/v1"

// File is one manifest file sent by `shoal apply -f` or `delete -f`; the
// agent decodes it so that the error it reports names file and line.
type File struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

// ApplyRequest carries manifest files. With DryRun the agent does
// everything an apply does (decoding, identities, the pod security
// policy, size limits, the FSM's own checks) but commits nothing, and
// answers what would have happened (`apply --dry-run=server`); a request
// forwarded to the leader keeps it, as it keeps the whole body.
type ApplyRequest struct {
	Files  []File `json:"files"`
	DryRun bool   `json:"dryRun,omitempty"`
}

// ApplyResponse says what happened to each object, kubectl style:
// "deployment.apps/web created"; with DryRun, what would have happened
// (Index is then the state's the answer was computed on).
type ApplyResponse struct {
	Results []string    `json:"results"`
	Objects []ObjectRef `json:"objects"`
	Index   uint64      `json:"index"`
	// Warnings name what was stored but has no effect (RBAC kinds).
	Warnings []string `json:"warnings,omitempty"`
	DryRun   bool     `json:"dryRun,omitempty"`
}

// ObjectView is a stored ConfigMap, Secret, Namespace or API-only object.
// The sealed form of a Secret is never served: SecretData holds its data,
// opened, for callers allowed to read Secrets.
type ObjectView struct {
	Object     *cluster.Object   `json:"object"`
	SecretData map[string][]byte `json:"secretData,omitempty"`
	// Budget is what a PodDisruptionBudget allows now.
	Budget *cluster.BudgetStatus `json:"budget,omitempty"`
	// Claim is a PersistentVolumeClaim's phase, node and users.
	Claim *cluster.ClaimStatus `json:"claim,omitempty"`
}

// DrainResponse says what a drain did: the node is cordoned, Evicted pods
// are stopping, and Blocked ones stay because a disruption budget does not
// allow their eviction yet (`shoal drain` asks again until none is left).
type DrainResponse struct {
	Evicted int      `json:"evicted"`
	Blocked []string `json:"blocked,omitempty"`
	// Ignored are the DaemonSet pods drain leaves on the node.
	Ignored []string `json:"ignored,omitempty"`
}

// SecretKeys carries the data keys that seal Secrets between agents, over
// mutual TLS; never to users.
type SecretKeys struct {
	Keys []seal.Key `json:"keys"`
}

// RotateSecretKeyResponse says what a rotation did.
type RotateSecretKeyResponse struct {
	KeyID string `json:"keyID"`
	// Resealed counts Secrets re-encrypted under the new key.
	Resealed int `json:"resealed"`
}

// ObjectRef names one object; Resource is the plural API name ("pods").
type ObjectRef struct {
	Resource  string `json:"resource"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// NodeView is a node with what its pods hold.
type NodeView struct {
	Node      *cluster.Node     `json:"node"`
	Requested cluster.Resources `json:"requested"`
	Pods      int               `json:"pods"`
	// GPUHolders maps GPU ID → pod key.
	GPUHolders map[string]string `json:"gpuHolders,omitempty"`
	// Conditions are the node's live conditions from gossip, such as
	// DiskPressure (its data dir is below the reserve).
	Conditions []string `json:"conditions,omitempty"`
}

// Health is GET /health's answer: status ok, or degraded with this
// node's conditions.
type Health struct {
	Status     string   `json:"status"`
	Conditions []string `json:"conditions,omitempty"`
}

// WorkloadView is a workload and the counts of its pods.
type WorkloadView struct {
	Workload *cluster.Workload `json:"workload"`
	Status   WorkloadStatus    `json:"status"`
}

// WorkloadStatus counts a workload's pods as Kubernetes does.
type WorkloadStatus struct {
	Replicas  int32 `json:"replicas"`
	Ready     int32 `json:"readyReplicas"`
	Updated   int32 `json:"updatedReplicas"`
	Available int32 `json:"availableReplicas"`
	// Daemon is a DaemonSet's status, counted in nodes.
	Daemon *cluster.DaemonCounts `json:"daemon,omitempty"`
}

// List wraps the items of a GET with the state index they were read at.
type List[T any] struct {
	Index uint64 `json:"index"`
	Items []T    `json:"items"`
}

// ScaleRequest sets a workload's replicas.
type ScaleRequest struct {
	Replicas int32 `json:"replicas"`
}

// TaintRequest adds and removes a node's taints (`shoal taint node`); a
// removal without an effect removes every taint of its key.
type TaintRequest struct {
	Add    []cluster.Taint `json:"add,omitempty"`
	Remove []cluster.Taint `json:"remove,omitempty"`
}

// ResourcesRequest changes a workload's (or bare pod's) container
// resources: `shoal set resources`.
type ResourcesRequest struct {
	Container string            `json:"container,omitempty"`
	Requests  cluster.Resources `json:"requests"`
	Limits    cluster.Resources `json:"limits"`
	// Set marks which of requests/limits were given, per resource name.
	SetRequests []string `json:"setRequests,omitempty"`
	SetLimits   []string `json:"setLimits,omitempty"`
}

// ExecRequest runs a command in a pod's container.
type ExecRequest struct {
	Container string   `json:"container,omitempty"`
	Command   []string `json:"command"`
	Stdin     string   `json:"stdin,omitempty"`
}

// An exec's answer streams as frames while the command runs, so that
// neither agent nor client ever holds its whole output: a frame is one
// byte of kind, a 4-byte big-endian length, then that many bytes. The last
// frame is ExecExit (JSON ExecExit) or ExecError (a message).
const (
	ExecStreamType = "application/vnd.shoal.exec-stream"
	ExecStdout     = 1
	ExecStderr     = 2
	ExecExitFrame  = 3
	ExecErrorFrame = 4
	// ExecMaxFrame bounds one frame's payload.
	ExecMaxFrame = 32 << 10
)

// ExecExit is how the command ended.
type ExecExit struct {
	ExitCode int `json:"exitCode"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// RolloutStatus says how far a workload's rollout is.
type RolloutStatus struct {
	Done    bool   `json:"done"`
	Message string `json:"message"`
}

// UndoRequest rolls a workload back to ToRevision, or with 0 to the
// revision before the current one (`rollout undo --to-revision`).
type UndoRequest struct {
	ToRevision int64 `json:"toRevision,omitempty"`
}

// UndoResponse says what a rollback did: Revision is the revision rolled
// back to; Skipped, that it is the current one already.
type UndoResponse struct {
	Revision int64 `json:"revision"`
	Skipped  bool  `json:"skipped,omitempty"`
}

// RolloutHistory lists a workload's revisions, oldest first, the current
// one last (`rollout history`).
type RolloutHistory struct {
	Revisions []RevisionInfo `json:"revisions"`
	// Limit is the workload's revisionHistoryLimit.
	Limit int `json:"limit"`
}

// RevisionInfo is one revision of a workload's pod template.
type RevisionInfo struct {
	Revision    int64  `json:"revision"`
	ChangeCause string `json:"changeCause,omitempty"`
	Current     bool   `json:"current,omitempty"`
}

// LeaseRequest renews a node's fencing lease.
type LeaseRequest struct {
	Node string `json:"node"`
}

// LeaseAnswer is a renewed lease. Index is the leader's state index when
// it renewed: every placement made before the renewal is at or below it,
// so the node starts StatefulSet pods only from a state that has reached
// it (a restarted or cut-off node's state may still place here a pod the
// leader moved away). Zero from a leader that does not say.
type LeaseAnswer struct {
	Status string `json:"status"`
	Index  uint64 `json:"index,omitempty"`
}

// DeadlineHeader carries the time (RFC 3339, UTC) after which a write
// must not be started: a client that gave up on a request sends it with
// its deadline, and an agent forwarding a write to the leader with the
// hop's own. A request held up in the network (queued on a connection
// across a partition, delivered once it heals) would otherwise change
// the cluster long after everyone stopped waiting for it; past its
// deadline it is refused with 408 and changes nothing.
const DeadlineHeader = "X-Shoal-Deadline"

// IsWrite reports whether an API request with method may change the
// cluster: everything but GET, HEAD and OPTIONS. Writes carry a type
// the agent checks and a deadline it enforces; reads are safe to repeat.
func IsWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// TarCompleteTrailer is sent after the last byte of a volume's tar stream:
// a stream cut short (the source agent died mid-copy) lacks it, and the
// copy is then thrown away instead of swapped in.
const TarCompleteTrailer = "X-Shoal-Tar-Complete"

// JoinRequest is a new agent asking to join: it proves it holds the join
// secret and asks for a node certificate for its key.
type JoinRequest struct {
	Secret string `json:"secret"`
	Name   string `json:"name"`
	// IPs and DNSNames go into the certificate's SANs.
	IPs      []string `json:"ips"`
	DNSNames []string `json:"dnsNames,omitempty"`
	// PublicKey is the node key's public half, PEM (PKIX).
	PublicKey string `json:"publicKey"`
}

// JoinResponse is everything a joining agent needs: its certificate, the
// CA, the gossip keyring and members to gossip with, and a root-only admin
// credential for its host.
type JoinResponse struct {
	Certificate string   `json:"certificate"`
	CA          string   `json:"ca"`
	GossipKeys  []string `json:"gossipKeys"`
	// SecretKeys are the keys Secrets are sealed with (see package seal).
	SecretKeys []seal.Key `json:"secretKeys"`
	Members    []string   `json:"members"`
	AdminToken string     `json:"adminToken"`
}

// CertificateRequest renews the caller's node certificate for a new key.
type CertificateRequest struct {
	PublicKey string `json:"publicKey"`
}

// CertificateResponse is a renewed node certificate, PEM.
type CertificateResponse struct {
	Certificate string `json:"certificate"`
}

// TokenRequest creates a user token; TTL is a Go duration ("24h"), empty
// for one that does not expire.
type TokenRequest struct {
	Name string `json:"name,omitempty"`
	Role string `json:"role"`
	TTL  string `json:"ttl,omitempty"`
}

// TokenInfo describes a user token, without its secret.
type TokenInfo struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Role      cluster.Role `json:"role"`
	CreatedAt time.Time    `json:"createdAt"`
	ExpiresAt time.Time    `json:"expiresAt"`
	CreatedBy string       `json:"createdBy,omitempty"`
}

// TokenResponse is a new token: the only time its secret is shown.
type TokenResponse struct {
	Token string    `json:"token"`
	Info  TokenInfo `json:"info"`
	// CA is the cluster CA (PEM), for a credentials file.
	CA string `json:"ca"`
	// Server is the answering agent's API address as other machines
	// reach it.
	Server string `json:"server,omitempty"`
}

// JoinTokenResponse is a new join token, after the secret was rotated.
type JoinTokenResponse struct {
	Token string `json:"token"`
}

// RotateResponse says which gossip key is primary after a rotation.
type RotateResponse struct {
	Keys int `json:"keys"`
}

// Policy is the cluster's pod security policy.
type Policy struct {
	// Level is privileged, baseline or restricted.
	Level            string   `json:"level"`
	AllowedHostPaths []string `json:"allowedHostPaths,omitempty"`
}

// StreamRedirect is an agent's answer to a state stream request when it is
// not a live Raft member: the members' API addresses, to ask instead.
type StreamRedirect struct {
	Error   string   `json:"error"`
	Servers []string `json:"servers"`
}
