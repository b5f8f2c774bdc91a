package main

import (
	"shoal/cluster"
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

func TestPodStatusWord(t *testing.T) {
	initC := []cluster.Container{{Name: "init"}, {Name: "side", RestartPolicy: cluster.RestartAlways}}
	main := []cluster.Container{{Name: "app"}}
	st := func(name string, state cluster.ContainerState, reason string, code int32) cluster.ContainerStatus {
		return cluster.ContainerStatus{Name: name, State: state, Reason: reason, ExitCode: code}
	}
	for _, tc := range []struct {
		name string
		pod  cluster.Pod
		want string
	}{
		{"unplaced", cluster.Pod{}, "Pending"},
		{"terminating", cluster.Pod{NodeName: "n", Terminating: true}, "Terminating"},
		{"no status yet", cluster.Pod{NodeName: "n"}, "ContainerCreating"},
		{"running after init", cluster.Pod{NodeName: "n", Spec: cluster.PodSpec{InitContainers: initC, Containers: main}, Status: cluster.PodStatus{
			Phase: cluster.PodRunning, Containers: []cluster.ContainerStatus{
				st("init", cluster.ContainerTerminated, "Completed", 0), st("side", cluster.ContainerRunning, "", 0), st("app", cluster.ContainerRunning, "", 0)}}}, "Running"},
		{"init crash-looping", cluster.Pod{NodeName: "n", Spec: cluster.PodSpec{InitContainers: initC, Containers: main}, Status: cluster.PodStatus{
			Phase: cluster.PodPending, Containers: []cluster.ContainerStatus{
				st("init", cluster.ContainerWaiting, "CrashLoopBackOff", 0), st("side", cluster.ContainerWaiting, "PodInitializing", 0), st("app", cluster.ContainerWaiting, "PodInitializing", 0)}}}, "Init:CrashLoopBackOff"},
		{"init failed", cluster.Pod{NodeName: "n", Spec: cluster.PodSpec{InitContainers: initC, Containers: main}, Status: cluster.PodStatus{
			Phase: cluster.PodFailed, Containers: []cluster.ContainerStatus{st("init", cluster.ContainerTerminated, "Error", 1)}}}, "Init:Error"},
		{"main OOMKilled", cluster.Pod{NodeName: "n", Spec: cluster.PodSpec{Containers: main}, Status: cluster.PodStatus{
			Phase: cluster.PodFailed, Containers: []cluster.ContainerStatus{st("app", cluster.ContainerTerminated, "OOMKilled", 137)}}}, "OOMKilled"},
	} {
		if got := podStatusWord(&tc.pod); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
