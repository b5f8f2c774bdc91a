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

	"golang.org/x/sys/unix"

	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/gpu"
)

// Version is the agent version recorded on the node (set by cmd/shoal).
var Version = "dev"

// nodeRecord describes this machine: detected capacity, overridden by
// --capacity, and labels from discovery and --labels.
func nodeRecord(cfg Config, gpus []cluster.GPU) *cluster.Node {
	capacity := cluster.Resources{
		MilliCPU: int64(goruntime.NumCPU()) * 1000, Memory: memTotal(),
		EphemeralStorage: diskTotal(cfg.DataDir), GPU: int64(len(gpus)),
	}
	if cfg.Capacity.MilliCPU > 0 {
		capacity.MilliCPU = cfg.Capacity.MilliCPU
	}
	if cfg.Capacity.Memory > 0 {
		capacity.Memory = cfg.Capacity.Memory
	}
	if cfg.Capacity.EphemeralStorage > 0 {
		capacity.EphemeralStorage = cfg.Capacity.EphemeralStorage
	}
	labels := map[string]string{}
	maps.Copy(labels, gpu.Labels(gpus))
	maps.Copy(labels, cfg.Labels)
	// The well-known labels are facts, set last as kubelet does: a
	// --labels entry cannot make anti-affinity on the hostname lie.
	labels["kubernetes.io/hostname"] = cfg.Name
	labels["kubernetes.io/os"] = "linux"
	labels["kubernetes.io/arch"] = goruntime.GOARCH
	return &cluster.Node{
		Name:         cfg.Name,
		Address:      cfg.Advertise,
		RaftAddr:     advertiseAddr(cfg.RaftAddr, cfg.Advertise),
		GossipAddr:   cfg.GossipAdvertise(),
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

// diskTotal is the size of the filesystem holding dir (0 if unknown): the
// node's ephemeral storage, as the kubelet reports the filesystem of its
// root directory. Pods' logs and emptyDirs live under the data dir, and so
// do their writable layers when the agent runs its own containerd.
func diskTotal(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Blocks) * st.Bsize
}

// register puts this node's record, retrying until it is committed.
func register(ctx context.Context, w *leaderWriter, n *cluster.Node, log *slog.Logger) error {
	for {
		err := w.putNode(ctx, n)
		if err == nil {
			log.Info("node registered", "capacity", n.Capacity.String(), "gpus", len(n.GPUs))
			return nil
		}
		var se *apiclient.StatusError
		if errors.Is(err, consensus.ErrInvalid) || errors.Is(err, consensus.ErrCIDRExhausted) || errors.Is(err, consensus.ErrConflict) ||
			(errors.As(err, &se) && se.Code/100 == 4) {
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
