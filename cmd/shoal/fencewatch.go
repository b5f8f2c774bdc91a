package main

import (
	"errors"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"shoal/agent/fencewatch"
	"shoal/internal/exepages"
	"shoal/runtime"
)

// newFenceWatchdogCmd is the fencing watchdog the agent starts (see
// package fencewatch); hidden, as no one runs it by hand.
func newFenceWatchdogCmd() *cobra.Command {
	var dataDir, run string
	cmd := &cobra.Command{
		Use:         fencewatch.Command,
		Short:       "Kill this node's StatefulSet containers when its fencing lease runs out (started by the agent)",
		Hidden:      true,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{offline: "1"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" || run == "" {
				return errors.New("--data-dir and --run are required")
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "fence-watchdog", "pid", os.Getpid(), "run", run)
			w := &fencewatch.Watchdog{DataDir: dataDir, Run: run, Agent: os.Stdin, Log: log, Idle: dropExePages(log),
				Fence: func() error {
					pods, err := runtime.KillFenced(dataDir)
					for _, p := range pods {
						log.Warn("fencing lease ran out: killed a StatefulSet pod's containers", "pod", p.Namespace+"/"+p.Name, "uid", p.UID, "cgroups", p.Cgroups)
					}
					return err
				}}
			err := w.Guard(cmd.Context())
			if errors.Is(err, cmd.Context().Err()) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the agent's data dir")
	cmd.Flags().StringVar(&run, "run", "", "the agent run that started this watchdog")
	return cmd
}

// dropExePages is what the watchdog does each time it goes back to
// waiting, which is nearly all its life: the pages of the binary it
// touched leave its resident set (exepages.Drop). The agent gives back
// the pages only it maps (exepages.Release, every 30 s), so a page both
// touched would otherwise stay resident in both. Pages are read one by
// one from then on (exepages.ReadByPage), so a wake-up maps back only
// the few it runs.
func dropExePages(log *slog.Logger) func() {
	if err := exepages.ReadByPage(); err != nil {
		log.Debug("binary pages stay resident", "err", err)
		return nil
	}
	return func() {
		if err := exepages.Drop(); err != nil {
			log.Debug("binary pages stay resident", "err", err)
		}
	}
}
