package agent

import (
	"reflect"
	"testing"

	"shoal/gossip"
)

type members []gossip.Member

func (m members) Members() []gossip.Member { return m }

func TestNodeConditions(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   members
		want map[string][]string
	}{
		{"none", nil, map[string][]string{}},
		{"all clear", members{{Name: "a"}, {Name: "b", Meta: gossip.NodeMeta{RuntimeNotReady: true}}}, map[string][]string{}},
		{"one full", members{{Name: "a"}, {Name: "b", Meta: gossip.NodeMeta{DiskPressure: true}}},
			map[string][]string{"b": {conditionDiskPressure}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nodeConditions(tc.ms); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("nodeConditions = %v, want %v", got, tc.want)
			}
		})
	}
}
