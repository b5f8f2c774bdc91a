// Command trustbench measures an agent API's acknowledged writes, before
// and after the API moved to HTTPS (scripts/bench-trust.sh drives it). It
// speaks to either version:
//
//   - --token-file F: plain HTTP, Authorization: Bearer <F's contents> (the
//     agents before mutual TLS, token in <data-dir>/token);
//   - --config F: HTTPS, the server verified against the cluster CA of a
//     credentials file (<data-dir>/admin.conf), Bearer its token.
//
// The write is POST /v1/nodes/NODE/cordon, then /uncordon, alternately
// (no body): one Raft entry each, forwarded to the leader by a follower.
//
//	trustbench writes   --addr A --config F --node N [--duration 20s] [--workers 8]
//	trustbench failover --addrs A,B --config F --node N [--every 50ms] [--timeout 2s] [--max 90s]
//
// writes prints {"writes","errors","seconds","perSecond","p50ms","p99ms"}.
// failover writes every --every to each address, reads a line
// "killed <unix-nano>" on stdin (the moment the leader was killed) and
// prints {"failoverMs"}: from the kill to the first acknowledged (2xx)
// write that was sent after it.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"shoal/agent/apiclient"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "writes":
		err = runWrites(os.Args[2:])
	case "failover":
		err = runFailover(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trustbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: trustbench writes|failover [flags] (trustbench MODE -h for the flags)")
	os.Exit(2)
}

// auth is how to reach the agents: scheme, bearer token, TLS settings.
type auth struct {
	tokenFile, config string
	h2                bool
}

func (a *auth) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.tokenFile, "token-file", "", "plain HTTP with this bearer token file (agents before mutual TLS)")
	fs.StringVar(&a.config, "config", "", "HTTPS with this credentials file's CA and token (admin.conf)")
	fs.BoolVar(&a.h2, "h2", false, "allow HTTP/2 over TLS (default: HTTP/1.1 keep-alive, as over plain HTTP)")
}

// client is a keep-alive HTTP client for one version of the API.
type client struct {
	scheme, token string
	hc            *http.Client
}

func (a *auth) client(conns int) (*client, error) {
	tr := &http.Transport{
		MaxIdleConns:        conns * 4,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	c := &client{hc: &http.Client{Transport: tr}}
	switch {
	case a.tokenFile != "" && a.config != "":
		return nil, errors.New("--token-file and --config exclude each other")
	case a.tokenFile != "":
		b, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token: %w", err)
		}
		c.scheme, c.token = "http", strings.TrimSpace(string(b))
	case a.config != "":
		cr, err := apiclient.LoadCredentials(a.config)
		if err != nil {
			return nil, err
		}
		tlsConf, err := cr.TLS()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.config, err)
		}
		tr.TLSClientConfig = tlsConf
		tr.ForceAttemptHTTP2 = a.h2
		if !a.h2 {
			// A non-nil empty map turns HTTP/2 off.
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c.scheme, c.token = "https", cr.Token
	default:
		return nil, errors.New("give --token-file (plain HTTP) or --config (HTTPS)")
	}
	if c.token == "" {
		return nil, errors.New("empty token")
	}
	return c, nil
}

// write sends one cordon (or uncordon) of node to addr; nil on a 2xx.
func (c *client) write(ctx context.Context, addr, node string, cordon bool) error {
	action := "uncordon"
	if cordon {
		action = "cordon"
	}
	u := c.scheme + "://" + addr + "/v1/nodes/" + node + "/" + action
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

type writesResult struct {
	Writes    int     `json:"writes"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"perSecond"`
	P50ms     float64 `json:"p50ms"`
	P99ms     float64 `json:"p99ms"`
	FirstErr  string  `json:"firstError,omitempty"`
}

func runWrites(args []string) error {
	fs := flag.NewFlagSet("writes", flag.ExitOnError)
	var a auth
	a.flags(fs)
	addr := fs.String("addr", "", "agent API, HOST:PORT")
	node := fs.String("node", "", "node to cordon and uncordon")
	dur := fs.Duration("duration", 20*time.Second, "how long to write")
	workers := fs.Int("workers", 8, "concurrent writers")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of one write")
	_ = fs.Parse(args)
	if *addr == "" || *node == "" || *workers < 1 {
		return errors.New("writes: --addr, --node and --workers >= 1 are required")
	}
	c, err := a.client(*workers)
	if err != nil {
		return err
	}
	// One write first: a bad address or credential fails here, clearly.
	ctx0, cancel0 := context.WithTimeout(context.Background(), *timeout)
	err = c.write(ctx0, *addr, *node, false)
	cancel0()
	if err != nil {
		return fmt.Errorf("first write: %w", err)
	}

	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     int
		firstErr string
		wg       sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(*dur)
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			var badMsg string
			for i := 0; time.Now().Before(end); i++ {
				t := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), *timeout)
				err := c.write(ctx, *addr, *node, i%2 == 0)
				cancel()
				if err != nil {
					bad++
					if badMsg == "" {
						badMsg = err.Error()
					}
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			if firstErr == "" {
				firstErr = badMsg
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := writesResult{
		Writes: len(lat), Errors: errs, Seconds: round(secs, 3),
		PerSecond: round(float64(len(lat))/secs, 1),
		P50ms:     ms(quantile(lat, 0.50)), P99ms: ms(quantile(lat, 0.99)),
		FirstErr: firstErr,
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

type attempt struct {
	sent, acked time.Time
	err         error
}

type failoverResult struct {
	FailoverMs float64 `json:"failoverMs"`
	// AckedBy is the address that acknowledged that first write.
	AckedBy string `json:"ackedBy"`
	// FailedAfterKill counts the writes sent after the kill that failed
	// before the first one succeeded.
	FailedAfterKill int    `json:"failedAfterKill"`
	LastErr         string `json:"lastError,omitempty"`
	// OKBeforeKill counts the writes acknowledged before the kill (the
	// loop was healthy when the leader died).
	OKBeforeKill int `json:"okBeforeKill"`
}

func runFailover(args []string) error {
	fs := flag.NewFlagSet("failover", flag.ExitOnError)
	var a auth
	a.flags(fs)
	addrs := fs.String("addrs", "", "agent APIs to write to, HOST:PORT,...")
	node := fs.String("node", "", "node to cordon and uncordon")
	every := fs.Duration("every", 50*time.Millisecond, "interval between rounds of writes")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout of one write")
	maxWait := fs.Duration("max", 90*time.Second, "give up this long after the kill")
	_ = fs.Parse(args)
	var targets []string
	for _, s := range strings.Split(*addrs, ",") {
		if s = strings.TrimSpace(s); s != "" {
			targets = append(targets, s)
		}
	}
	if len(targets) == 0 || *node == "" {
		return errors.New("failover: --addrs and --node are required")
	}
	c, err := a.client(4 * len(targets))
	if err != nil {
		return err
	}

	killed := make(chan time.Time, 1)
	go readKill(killed)

	type ack struct {
		addr string
		at   attempt
	}
	acks := make(chan ack, 1024)
	tick := time.NewTicker(*every)
	defer tick.Stop()
	var (
		killAt   time.Time
		deadline <-chan time.Time
		res      failoverResult
		cordon   bool
	)
	send := func() {
		cordon = !cordon
		for _, addr := range targets {
			go func(addr string, cordon bool) {
				ctx, cancel := context.WithTimeout(context.Background(), *timeout)
				defer cancel()
				at := attempt{sent: time.Now()}
				at.err = c.write(ctx, addr, *node, cordon)
				at.acked = time.Now()
				acks <- ack{addr, at}
			}(addr, cordon)
		}
	}
	send()
	for {
		select {
		case <-tick.C:
			send()
		case t, ok := <-killed:
			if !ok {
				return errors.New("stdin closed before a \"killed <unix-nano>\" line")
			}
			killed = nil
			killAt = t
			deadline = time.After(time.Until(killAt.Add(*maxWait)))
		case <-deadline:
			return fmt.Errorf("no acknowledged write within %s of the kill (%d failed; last: %s)", *maxWait, res.FailedAfterKill, res.LastErr)
		case a := <-acks:
			switch {
			case killAt.IsZero() || a.at.sent.Before(killAt):
				// Sent before the kill: not a failover write.
				if a.at.err == nil && (killAt.IsZero() || a.at.acked.Before(killAt)) {
					res.OKBeforeKill++
				}
			case a.at.err != nil:
				res.FailedAfterKill++
				res.LastErr = a.at.err.Error()
			default:
				// Answers arrive in the order they come back, so the
				// first success sent after the kill is the earliest.
				res.FailoverMs = ms(a.at.acked.Sub(killAt))
				res.AckedBy = a.addr
				return json.NewEncoder(os.Stdout).Encode(res)
			}
		}
	}
}

// readKill sends the time of the first "killed <unix-nano>" line on stdin.
func readKill(out chan<- time.Time) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "killed" {
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				fmt.Fprintf(os.Stderr, "trustbench: bad line %q: %v\n", sc.Text(), err)
				continue
			}
			out <- time.Unix(0, ns)
			return
		}
	}
	close(out)
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q * float64(len(d)-1))
	return d[i]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(f float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}
