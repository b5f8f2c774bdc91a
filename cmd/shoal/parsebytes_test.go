package main

import (
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{"64Mi", 64 << 20, ""},
		{"1G", 1e9, ""},
		{"4096", 4096, ""},
		{"0", 0, "positive whole number"},
		{"-1Mi", 0, "positive whole number"},
		{"lots", 0, "expected a size such as 64Mi"},
	} {
		got, err := parseBytes(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("parseBytes(%q) = %d, %v; want an error naming it: %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
