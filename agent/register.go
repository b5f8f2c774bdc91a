package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"shoal/agent/node"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/gpu"
)

// version is the agent version recorded on the node.
var Version = "dev"

// nodeRecord describes this machine: detected capacity, overridden by
// --capacity, and labels from discovery and --labels.
func nodeRecord(cfg Config, apiAddr string, gpus []cluster.GPU) *cluster.Node {
	capacity := cluster.Resources{MilliCPU: int64(goruntime.NumCPU()) * 1000, Memory: memTotal(), GPU: int64(len(gpus))}
	if cfg.Capacity.MilliCPU > 0 {
		capacity.MilliCPU = cfg.Capacity.MilliCPU
	}
	if cfg.Capacity.Memory > 0 {
		capacity.Memory = cfg.Capacity.Memory
	}
	labels := map[string]string{"kubernetes.io/hostname": cfg.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": goruntime.GOARCH}
	maps.Copy(labels, gpu.Labels(gpus))
	maps.Copy(labels, cfg.Labels)
	return &cluster.Node{
		Name:         cfg.Name,
		Address:      cfg.Advertise,
		APIAddr:      apiAddr,
		RaftAddr:     advertiseAddr(cfg.RaftAddr, cfg.Advertise),
		DNSAddr:      cfg.DNSAddr,
		Labels:       labels,
		Capacity:     capacity,
		Allocatable:  capacity,
		GPUs:         gpus,
		Status:       cluster.NodeReady,
		AgentVersion: Version,
	}
}

// memTotal reads the machine's memory from /proc/meminfo (0 if unknown).
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// register puts this node's record, retrying until it is committed.
func register(ctx context.Context, store *consensus.Store, n *cluster.Node, log *slog.Logger) error {
	for {
		res, err := store.Apply(ctx, &consensus.PutNode{Node: n})
		if err == nil && res[0].Err == nil {
			log.Info("node registered", "capacity", n.Capacity.String(), "gpus", len(n.GPUs))
			return nil
		}
		if err == nil {
			err = res[0].Err
		}
		if errors.Is(err, consensus.ErrInvalid) || errors.Is(err, consensus.ErrCIDRExhausted) {
			return fmt.Errorf("register node %s: %w", n.Name, err)
		}
		log.Warn("register node: retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitForPodCIDR waits until the leader has given this node its subnet.
func waitForPodCIDR(ctx context.Context, store *consensus.Store, name string) (*cluster.Node, error) {
	for {
		ch := store.Changed()
		if n, ok := store.State().Node(name); ok && n.PodCIDR != "" {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		case <-time.After(time.Second):
		}
	}
}

// statusReporter commits the node reconciler's status batches.
type statusReporter struct{ store *consensus.Store }

func (r *statusReporter) ReportStatus(ctx context.Context, nodeName string, updates []node.StatusUpdate) error {
	cmd := &consensus.PodStatus{Node: nodeName, Updates: make([]consensus.PodStatusUpdate, len(updates))}
	for i, u := range updates {
		cmd.Updates[i] = consensus.PodStatusUpdate{Ref: u.Ref, Status: u.Status}
	}
	res, err := r.store.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("report pod status: %w", err)
	}
	return res[0].Err
}
