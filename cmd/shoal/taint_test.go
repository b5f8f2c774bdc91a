package main

import (
	"reflect"
	"strings"
	"testing"

	"shoal/agent/api"
	"shoal/cluster"
)

func TestParseTaints(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []string
		want  api.TaintRequest
		err   string
	}{
		{name: "add with value", specs: []string{"nvidia.com/gpu=present:NoSchedule"},
			want: api.TaintRequest{Add: []cluster.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: cluster.TaintNoSchedule}}}},
		{name: "add without value", specs: []string{"maintenance:NoExecute", "spot:PreferNoSchedule"},
			want: api.TaintRequest{Add: []cluster.Taint{{Key: "maintenance", Effect: cluster.TaintNoExecute}, {Key: "spot", Effect: cluster.TaintPreferNoSchedule}}}},
		{name: "remove with effect", specs: []string{"gpu:NoSchedule-"},
			want: api.TaintRequest{Remove: []cluster.Taint{{Key: "gpu", Effect: cluster.TaintNoSchedule}}}},
		{name: "remove key", specs: []string{"gpu-"}, want: api.TaintRequest{Remove: []cluster.Taint{{Key: "gpu"}}}},
		{name: "no effect", specs: []string{"gpu=true"}, err: `taint "gpu=true": needs an effect`},
		{name: "bad effect", specs: []string{"gpu=true:NoRun"}, err: `effect "NoRun" is not one of NoSchedule, PreferNoSchedule, NoExecute`},
		{name: "bad key", specs: []string{"a b:NoSchedule"}, err: `taint "a b:NoSchedule": key "a b" is invalid`},
		{name: "bad value", specs: []string{"gpu=a b:NoSchedule"}, err: `value "a b" is invalid`},
		{name: "removal with value", specs: []string{"gpu=true:NoSchedule-"}, err: "without a value"},
		{name: "twice", specs: []string{"gpu=a:NoSchedule", "gpu=b:NoSchedule"}, err: "given twice"},
		{name: "add and remove", specs: []string{"gpu=a:NoSchedule", "gpu-"}, err: "cannot both add and remove"},
	} {
		got, err := parseTaints(tc.specs)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

func FuzzParseTaints(f *testing.F) {
	for _, s := range []string{"gpu=true:NoSchedule", "gpu-", "gpu:NoExecute-", "a=b=c:NoSchedule", ":-", "=:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		req, err := parseTaints([]string{spec})
		if err != nil {
			return
		}
		// Whatever is accepted is a well-formed taint the FSM takes.
		for _, a := range req.Add {
			if a.Key == "" || !cluster.ValidEffect(a.Effect) {
				t.Fatalf("%q accepted as %+v", spec, a)
			}
			if got := taintString(a); got != spec {
				t.Fatalf("%q prints back as %q", spec, got)
			}
		}
		for _, r := range req.Remove {
			if r.Key == "" || r.Value != "" || (r.Effect != "" && !cluster.ValidEffect(r.Effect)) {
				t.Fatalf("%q accepted as removal %+v", spec, r)
			}
		}
	})
}
