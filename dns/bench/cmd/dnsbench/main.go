// Command dnsbench measures Shoal's DNS server against dnsmasq answering
// the same names from a hosts file, with dnsperf on loopback:
//
//	go run ./dns/bench/cmd/dnsbench
//
// For each server it runs dnsperf twice: flat out (throughput, and the
// latency that queueing behind -q outstanding queries gives) and at a fixed
// rate below saturation (the latency a client sees). The servers take
// turns, rounds times, so a noisy neighbour hurts both alike, and the
// summary gives each round's ratio of Shoal's queries/s to dnsmasq's: on a
// shared machine the ratio of one round is what can be compared, not the
// absolute figures. scripts/bench-dns.sh runs it.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"

	shoaldns "shoal/dns"
	"shoal/dns/bench"
)

type options struct {
	services, pods int
	duration       time.Duration
	outstanding    int
	clients        int
	rate           int
	rounds         int
	dnsperf        string
	dnsmasq        string
	serve          string
	cpuprofile     string
	readers        int
}

func main() {
	var o options
	flag.IntVar(&o.services, "services", 1000, "services in the synthetic cluster (one query name each)")
	flag.IntVar(&o.pods, "pods", 3, "ready pods per service (A records per answer)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each dnsperf run")
	flag.IntVar(&o.outstanding, "q", 100, "dnsperf outstanding queries in the flat-out run")
	flag.IntVar(&o.clients, "c", 8, "dnsperf clients (source sockets) in every run")
	flag.IntVar(&o.rate, "rate", 20000, "queries/s of the fixed-rate latency run")
	flag.IntVar(&o.rounds, "rounds", 3, "times each server is measured, alternating")
	flag.StringVar(&o.dnsperf, "dnsperf", "dnsperf", "dnsperf binary")
	flag.StringVar(&o.dnsmasq, "dnsmasq", "dnsmasq", "dnsmasq binary")
	flag.StringVar(&o.serve, "serve", "", "only serve the synthetic cluster on this HOST:PORT until interrupted (for dig or dnsperf by hand)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run (Shoal's server runs in this process)")
	flag.IntVar(&o.readers, "readers", 0, "UDP reader goroutines (0: the server's default)")
	flag.Parse()
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dnsbench: cpu profile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	// On SIGINT/SIGTERM the context ends: dnsperf and dnsmasq, started
	// with it, are killed by PID and waited for before dnsbench exits.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	cancel()
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		os.Exit(1)
	}
}

// result is one dnsperf run.
type result struct {
	qps            float64
	p50, p99, p999 time.Duration
	// cpu is the server's CPU time (user and system) per query answered:
	// unlike queries/s it hardly depends on what else the machine runs.
	cpu  time.Duration
	lost int
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "dnsbench")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	// dnsmasq drops to "nobody" before it reads the hosts file.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	hosts, queries := filepath.Join(dir, "hosts"), filepath.Join(dir, "queries")
	if err := writeFile(hosts, func(w io.Writer) error { return bench.WriteHosts(w, o.services, o.pods) }); err != nil {
		return err
	}
	if err := writeFile(queries, func(w io.Writer) error { return bench.WriteQueries(w, o.services) }); err != nil {
		return err
	}

	srv, err := shoaldns.New(shoaldns.Config{
		Addrs:     []string{cmp.Or(o.serve, "127.0.0.1:0")},
		Upstreams: []string{},
		// dnsperf is one client sending far above any per-client limit.
		RateLimit:  shoaldns.RateLimit{Disabled: true},
		Logger:     slog.New(slog.DiscardHandler),
		UDPReaders: o.readers,
	})
	if err != nil {
		return fmt.Errorf("shoal dns: %w", err)
	}
	srv.Update(bench.State(o.services, o.pods))
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("shoal dns: %w", err)
	}
	defer func() { _ = srv.Shutdown(context.WithoutCancel(ctx)) }()
	shoalAddr := srv.Addrs()[0]
	if o.serve != "" {
		fmt.Println("serving", o.services, "services on", shoalAddr)
		<-ctx.Done()
		return nil
	}

	dnsmasqAddr, dnsmasqPID, stop, err := startDnsmasq(ctx, o.dnsmasq, hosts)
	if err != nil {
		return err
	}
	defer stop()

	// Shoal's server runs in this process, which does nothing else while
	// dnsperf runs.
	servers := []struct {
		name, addr string
		pid        int
	}{{"shoal", shoalAddr, os.Getpid()}, {"dnsmasq", dnsmasqAddr, dnsmasqPID}}
	for _, s := range servers {
		if err := waitAnswer(s.addr, bench.Name(0)+"."); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	fmt.Printf("%d services × %d pods, %s per run, dnsperf -c %d, %d rounds, CPUs %d\n\n",
		o.services, o.pods, o.duration, o.clients, o.rounds, runtime.NumCPU())
	fmt.Printf("%-8s %-20s %12s %10s %10s %10s %6s %9s\n", "server", "run", "queries/s", "p50", "p99", "p99.9", "lost", "CPU/query")
	// rounds[i][server] is the flat-out and fixed-rate result of round i.
	rounds := make([][2][2]result, o.rounds)
	for round := range o.rounds {
		for si, s := range servers {
			for ri, r := range []struct {
				what string
				args []string
			}{
				{fmt.Sprintf("flat out, q=%d", o.outstanding), []string{"-q", strconv.Itoa(o.outstanding)}},
				{fmt.Sprintf("%d/s, q=%d", o.rate, o.outstanding), []string{"-q", strconv.Itoa(o.outstanding), "-Q", strconv.Itoa(o.rate)}},
			} {
				cpu0, err := cpuTime(s.pid)
				if err != nil {
					return err
				}
				res, err := dnsperf(ctx, o, s.addr, queries, r.args)
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				cpu1, err := cpuTime(s.pid)
				if err != nil {
					return err
				}
				if n := res.qps * o.duration.Seconds(); n > 0 {
					res.cpu = time.Duration(float64(cpu1-cpu0) / n)
				}
				rounds[round][si][ri] = res
				fmt.Printf("%-8s %-20s %12.0f %10s %10s %10s %6d %9s   (round %d)\n", s.name, r.what, res.qps,
					res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond), res.p999.Round(time.Microsecond), res.lost,
					res.cpu.Round(10*time.Nanosecond), round+1)
			}
		}
	}
	summarize(rounds, o.rate)
	return nil
}

// summarize prints, per round, the flat-out queries/s of both servers and
// their ratio (measured minutes apart under the same load), and the p99 of
// each at the fixed rate; then the spread of the ratios.
func summarize(rounds [][2][2]result, rate int) {
	fmt.Printf("\n%-6s %12s %12s %7s %14s %14s %11s %11s\n", "round", "shoal q/s", "dnsmasq q/s", "ratio",
		fmt.Sprintf("shoal p99@%dk", rate/1000), fmt.Sprintf("dnsmasq p99@%dk", rate/1000), "shoal CPU/q", "dnsmasq CPU/q")
	var ratios []float64
	for i, r := range rounds {
		ratio := r[0][0].qps / r[1][0].qps
		ratios = append(ratios, ratio)
		fmt.Printf("%-6d %12.0f %12.0f %6.2fx %14s %14s %11s %11s\n", i+1, r[0][0].qps, r[1][0].qps, ratio,
			r[0][1].p99.Round(time.Microsecond), r[1][1].p99.Round(time.Microsecond),
			r[0][0].cpu.Round(10*time.Nanosecond), r[1][0].cpu.Round(10*time.Nanosecond))
	}
	slices.Sort(ratios)
	fmt.Printf("ratio shoal/dnsmasq: min %.2fx, median %.2fx, max %.2fx\n",
		ratios[0], ratios[len(ratios)/2], ratios[len(ratios)-1])
}

func writeFile(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w := bufio.NewWriter(f)
	if err := fill(w); err != nil {
		_ = f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		_ = f.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return f.Close()
}

// startDnsmasq runs dnsmasq on a free loopback port, answering only from
// the hosts file; stop kills it by its PID and waits for it.
func startDnsmasq(ctx context.Context, bin, hosts string) (string, int, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "--no-daemon", "--port="+strconv.Itoa(port), "--no-resolv", "--no-hosts",
		"--addn-hosts="+hosts, "--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file=",
		"--log-facility=-")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start dnsmasq: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd.Process.Pid, stop, nil
}

// cpuTime is the user and system CPU time process pid has used, from
// /proc/PID/stat (in clock ticks of 10 ms: over a run of seconds that is
// precise enough).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields after its closing one. utime and stime are fields 14
	// and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick, nil
}

// freePort finds a port free for both UDP and TCP on loopback.
func freePort() (int, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		_ = pc.Close()
		if err == nil {
			_ = l.Close()
			return port, nil
		}
	}
	return 0, errors.New("free port: none found")
}

// waitAnswer polls addr until it answers name, for up to 5 s.
func waitAnswer(addr, name string) error {
	c := &mdns.Client{Timeout: 200 * time.Millisecond}
	m := new(mdns.Msg)
	m.SetQuestion(name, mdns.TypeA)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, _, err := c.Exchange(m, addr)
		if err == nil && r.Rcode == mdns.RcodeSuccess && len(r.Answer) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer for %s from %s: %v", name, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dnsperf runs dnsperf verbosely and computes the latency percentiles from
// its per-query lines ("> NOERROR name A 0.000120"): dnsperf itself only
// prints the mean.
func dnsperf(ctx context.Context, o options, addr, queries string, extra []string) (result, error) {
	host, port, _ := net.SplitHostPort(addr)
	args := append([]string{"-s", host, "-p", port, "-d", queries, "-l", strconv.Itoa(int(o.duration.Seconds())),
		"-c", strconv.Itoa(o.clients), "-v"}, extra...)
	// The per-query lines go to a file, not a pipe: a pipe that the reader
	// drains a little late stalls dnsperf's sender and skews the run.
	log, err := os.CreateTemp("", "dnsperf")
	if err != nil {
		return result{}, fmt.Errorf("dnsperf log: %w", err)
	}
	defer os.Remove(log.Name())
	defer log.Close()
	cmd := exec.CommandContext(ctx, o.dnsperf, args...)
	cmd.Stdout, cmd.Stderr = log, io.Discard
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("dnsperf: %w", err)
	}
	if _, err := log.Seek(0, io.SeekStart); err != nil {
		return result{}, fmt.Errorf("dnsperf log: %w", err)
	}
	out := log
	var res result
	var lat []time.Duration
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "> "):
			f := strings.Fields(line)
			if s, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				lat = append(lat, time.Duration(s*float64(time.Second)))
			}
		case strings.Contains(line, "Queries per second:"):
			res.qps, _ = strconv.ParseFloat(strings.TrimSpace(line[strings.Index(line, ":")+1:]), 64)
		case strings.Contains(line, "Queries lost:"):
			f := strings.Fields(line)
			res.lost, _ = strconv.Atoi(f[2])
		}
	}
	if err := sc.Err(); err != nil {
		return result{}, fmt.Errorf("dnsperf log: %w", err)
	}
	if len(lat) == 0 {
		return result{}, errors.New("dnsperf reported no queries")
	}
	slices.Sort(lat)
	res.p50 = lat[len(lat)/2]
	res.p99 = lat[len(lat)*99/100]
	res.p999 = lat[len(lat)*999/1000]
	return res, nil
}
