package runtime

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestEnsureBridge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cidr    string
		exists  bool
		addrs   string // `ip -o addr show` output
		want    []string
		gateway string
		err     string
	}{
		{
			name: "new bridge", cidr: "10.88.3.0/24", gateway: "10.88.3.1",
			want: []string{"link show br0", "link add br0 type bridge", "-o addr show dev br0", "addr add 10.88.3.1/24 dev br0", "link set br0 up"},
		},
		{
			name: "existing bridge with its address", cidr: "10.88.3.0/24", exists: true, gateway: "10.88.3.1",
			addrs: "5: br0    inet 10.88.3.1/24 brd 10.88.3.255 scope global br0\n",
			want:  []string{"link show br0", "-o addr show dev br0", "link set br0 up"},
		},
		{
			name: "unmasked CIDR", cidr: "10.88.3.7/24", exists: true, gateway: "10.88.3.1",
			want: []string{"link show br0", "-o addr show dev br0", "addr add 10.88.3.1/24 dev br0", "link set br0 up"},
		},
		{name: "bad CIDR", cidr: "10.88.3.0", err: `pod CIDR "10.88.3.0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			h := &hostNet{run: func(_ context.Context, _ []byte, name string, args ...string) ([]byte, error) {
				if name != "ip" {
					t.Fatalf("ran %s", name)
				}
				cmd := strings.Join(args, " ")
				ran = append(ran, cmd)
				switch {
				case cmd == "link show br0" && !tc.exists:
					return nil, errors.New("Device \"br0\" does not exist.")
				case strings.HasPrefix(cmd, "-o addr show"):
					return []byte(tc.addrs), nil
				}
				return nil, nil
			}}
			gw, err := h.ensureBridge(context.Background(), "br0", tc.cidr)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || gw != tc.gateway {
				t.Fatalf("gateway %q, err %v; want %q", gw, err, tc.gateway)
			}
			if !slices.Equal(ran, tc.want) {
				t.Errorf("ran\n  %q\nwant\n  %q", ran, tc.want)
			}
		})
	}
}
