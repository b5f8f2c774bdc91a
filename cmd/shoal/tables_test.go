package main

import (
	"testing"
	"time"
)

func TestAge(t *testing.T) {
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "0s"},
		{59*time.Second + 999*time.Millisecond, "59s"},
		{time.Minute, "1m"},
		{59*time.Minute + 59*time.Second, "59m"},
		{time.Hour, "1h"},
		// Hours up to two days, as kubectl: 47h reads better than 1d.
		{47*time.Hour + 59*time.Minute, "47h"},
		{48 * time.Hour, "2d"},
		{400 * 24 * time.Hour, "400d"},
		// A clock skewed behind the leader's that wrote the time.
		{-3 * time.Second, "-3s"},
	}
	for _, tc := range tests {
		if got := age(goldenNow.Add(-tc.ago), goldenNow); got != tc.want {
			t.Errorf("age(now-%s) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := age(time.Time{}, goldenNow); got != "-" {
		t.Errorf("age(zero time) = %q, want -", got)
	}
}
