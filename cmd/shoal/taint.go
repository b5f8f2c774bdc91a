package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"shoal/agent/api"
	"shoal/cluster"
)

func newTaintCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "taint node NODE KEY[=VALUE]:EFFECT ... | KEY[:EFFECT]- ...",
		Short: "Add or remove a node's taints (NoSchedule, PreferNoSchedule, NoExecute)",
		Long: "Add or remove taints, with kubectl's syntax: `gpu=true:NoSchedule` adds (or\n" +
			"replaces the value of) a taint, `gpu:NoSchedule-` removes it, `gpu-` removes\n" +
			"every taint of the key. Pods that do not tolerate a NoSchedule or NoExecute\n" +
			"taint are not placed on the node; those running there are evicted by a\n" +
			"NoExecute taint (after their tolerationSeconds, when they tolerate it for a time).",
		Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "node" && args[0] != "nodes" && args[0] != "no" {
				return fmt.Errorf("taint: only nodes can be tainted, not %q", args[0])
			}
			req, err := parseTaints(args[2:])
			if err != nil {
				return err
			}
			if err := g.client().Taint(cmd.Context(), args[1], req); err != nil {
				return fmt.Errorf("taint node %s: %w", args[1], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node/%s tainted\n", args[1])
			return nil
		},
	}
}

// parseTaints reads kubectl's taint specs: KEY[=VALUE]:EFFECT adds,
// KEY[:EFFECT]- removes.
func parseTaints(specs []string) (api.TaintRequest, error) {
	var req api.TaintRequest
	seen := map[string]bool{}
	for _, spec := range specs {
		remove := strings.HasSuffix(spec, "-")
		body := strings.TrimSuffix(spec, "-")
		kv, effect, hasEffect := strings.Cut(body, ":")
		key, value, hasValue := strings.Cut(kv, "=")
		if msgs := validation.IsQualifiedName(key); len(msgs) > 0 {
			return req, fmt.Errorf("taint %q: key %q is invalid: %s", spec, key, strings.Join(msgs, "; "))
		}
		t := cluster.Taint{Key: key, Value: value, Effect: cluster.TaintEffect(effect)}
		if hasEffect && !cluster.ValidEffect(t.Effect) {
			return req, fmt.Errorf("taint %q: effect %q is not one of NoSchedule, PreferNoSchedule, NoExecute", spec, effect)
		}
		if remove {
			if hasValue {
				return req, fmt.Errorf("taint %q: a removal names KEY[:EFFECT]-, without a value", spec)
			}
			req.Remove = append(req.Remove, t)
			continue
		}
		if !hasEffect {
			return req, fmt.Errorf("taint %q: needs an effect: KEY[=VALUE]:EFFECT (NoSchedule, PreferNoSchedule or NoExecute), or KEY[:EFFECT]- to remove", spec)
		}
		if msgs := validation.IsValidLabelValue(value); len(msgs) > 0 {
			return req, fmt.Errorf("taint %q: value %q is invalid: %s", spec, value, strings.Join(msgs, "; "))
		}
		id := key + ":" + effect
		if seen[id] {
			return req, fmt.Errorf("taint %q: key %s with effect %s is given twice", spec, key, effect)
		}
		seen[id] = true
		req.Add = append(req.Add, t)
	}
	for _, r := range req.Remove {
		for _, a := range req.Add {
			if a.Key == r.Key && (r.Effect == "" || r.Effect == a.Effect) {
				return req, fmt.Errorf("taint %s: cannot both add and remove a taint", a.Key)
			}
		}
	}
	return req, nil
}

// taintString prints a taint as kubectl does: key=value:Effect.
func taintString(t cluster.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}
