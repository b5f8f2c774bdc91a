# Shoal's everyday commands. Each target is a thin wrapper: the logic lives
# in scripts/ so it can be read, run and debugged on its own.
#
#   make build       bin/shoal
#   make test        deps, gofmt, vet, staticcheck, unit (-race), containerd tests
#   make demo        one agent running examples/ (make demo-down stops it)
#   make bench       every figure beside its floor, one run (root): pod start
#                    vs ctr run -d (20/50/100), DNS vs dnsmasq, agent memory,
#                    scheduler Place100k/Idle100k
#   make bench-go    all Go benchmarks; make bench-pods the pod start alone
#   make bench-idle  idle leader and agent CPU, Raft entries/s at N agents (root)
#   make chaos       the long fault suite: ROUNDS=100 SEED=... (root), writes a report
#   make fmt lint deps (lint: vet, staticcheck, function sizes)
#   make sim         gossip at N members, then the state stream to N
#                    followers, on loopback (SIM_N=1000 or 5000 for others)

GO       ?= go
BIN      := bin/shoal
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# cmd/shoal declares `var version, commit string` in package main; -X on a
# variable that is not there is ignored, so this never breaks the build.
# cgo stays on: the GPU code loads NVML through it.
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# go-nvml's cgo prologue declares every deprecated NVML call; without this
# the first build prints hundreds of warnings that are not ours.
CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
export CGO_CFLAGS
# Benchmarks: BENCH picks them, BENCHTIME how long each runs.
BENCH     ?= .
BENCHTIME ?= 1s
# The fault suite: rounds, first seed (empty: drawn), kinds, faults per round, report file.
ROUNDS ?= 100
SEED   ?=
KINDS  ?=
FAULTS ?=
REPORT ?= chaos-report.txt

.PHONY: all build test deps fmt lint vet demo demo-down bench bench-go bench-pods bench-idle chaos clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/shoal

deps:
	scripts/install-deps.sh

# The README's test command; scripts/test.sh prints a closing summary.
test:
	GO=$(GO) scripts/test.sh

fmt:
	gofmt -w $$(find . -name '*.go' -not -path './.git/*')

vet:
	$(GO) vet ./...

# staticcheck is optional on a developer's machine; .ci/run installs it.
lint: vet
	@if command -v staticcheck >/dev/null; then staticcheck ./...; \
	elif [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then "$$($(GO) env GOPATH)/bin/staticcheck" ./...; \
	else echo "staticcheck not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"; fi
	@bash -n scripts/*.sh .ci/run && echo "scripts: bash -n ok"
	$(GO) run ./scripts/funcstat

demo: build
	scripts/demo-up.sh

demo-down:
	scripts/demo-down.sh

# Every tracked figure beside its floor, in one run (scripts/bench.sh;
# root). N and RUNS pick the pod counts and runs of the pod-start table.
bench: build
	GO=$(GO) scripts/bench.sh

# Go benchmarks of every package that has them (scheduler, consensus, dns,
# bench/...). No -race: it would distort the figures.
bench-go:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -count=1 ./...

# Apply of N pods (default 20; N=20,50,100 RUNS=3 for the table) vs ctr
# run -d of the same N, and agent RSS (root).
bench-pods: build
	scripts/bench-pods.sh

# An idle cluster's cost (root): N real agents in network namespaces
# (default "5 10 20 30"), the leader's and the others' CPU and the Raft
# entries per second over FOR (default 60s) of idling.
bench-idle: build
	scripts/bench-idle.sh

# The randomized fault suite's long form (root): ROUNDS schedules from
# SEED, report in REPORT (default chaos-report.txt). CI runs the short form.
chaos:
	ROUNDS=$(ROUNDS) SEED=$(SEED) KINDS=$(KINDS) FAULTS=$(FAULTS) REPORT=$(REPORT) scripts/chaos.sh

# The simulation harness: SIM_N members of the real gossip layer in one
# process on loopback, per N the time to form, to see a crash and a meta
# change, and an idle member's CPU and traffic (sim/gossipsim).
# An idle member costs about 1.2 ms of CPU a second over sockets, 0.4 ms
# over the in-process network (SIM_NET=mem), and forming N members costs
# N² relayed alive messages: on the 2 cores of the test machine N=300
# runs either way, 1000 does not in real time; pass SIM_N=100,1000 (or
# 5000) on a larger one, or SIM_DILATE=6 to run the members' protocol 6
# times slower and report in their time (as 12 cores would run it).
# Then the state stream (sim/statesim): a 3-voter, 2-replica Raft cluster
# in one process and SIM_N followers in child processes, the members' CPU
# and traffic idle and under churn, a change's spread, a leader failover
# and a 100,000-pod snapshot. It runs N=5000 on two cores (light
# followers beyond the first 100 full ones).
# Then AGENTSIM_N whole agents in one process (sim/agentsim: Raft, gossip,
# the stream, API, DNS and node reconciler as `shoal agent` runs them,
# pods held in memory): forming, idle CPU by role, a change's spread, N×3
# pods, a lost node and a lost leader. Each agent idles at a fraction of
# a percent of a core here, so 200 fit on two cores.
SIM_N ?= 100
SIM_NET ?= udp
SIM_DILATE ?= 1
AGENTSIM_N ?= 100
.PHONY: sim
sim:
	$(GO) run ./sim/cmd/gossipsim -n $(SIM_N) -net $(SIM_NET) -dilate $(SIM_DILATE)
	$(GO) run ./sim/cmd/statesim -n $(SIM_N)
	$(GO) run ./sim/cmd/agentsim -n $(AGENTSIM_N)

clean:
	rm -rf bin
