package gossipsim

import (
	"sync/atomic"

	metrics "github.com/hashicorp/go-metrics/compat"
)

// trafficSink counts what memberlist reports sending through go-metrics'
// global sink: its own counters, taken where the encrypted packet or stream
// leaves (net.go), so the figures include encryption and framing.
type trafficSink struct {
	udpPackets, udpBytes, tcpBytes, tcpConnects atomic.Uint64
	dead, suspect                               atomic.Uint64
}

// traffic is a snapshot of the sink's counters.
type traffic struct {
	udpPackets, udpBytes, tcpBytes, tcpConnects uint64
}

func (s *trafficSink) snapshot() traffic {
	return traffic{s.udpPackets.Load(), s.udpBytes.Load(), s.tcpBytes.Load(), s.tcpConnects.Load()}
}

func (s *trafficSink) IncrCounterWithLabels(key []string, val float32, _ []metrics.Label) {
	// The key ends in memberlist's three parts; go-metrics may prefix it
	// with a service name.
	if len(key) < 3 || key[len(key)-3] != "memberlist" {
		return
	}
	switch key[len(key)-2] + "." + key[len(key)-1] {
	case "udp.sent":
		s.udpPackets.Add(1)
		s.udpBytes.Add(uint64(val))
	case "tcp.sent":
		s.tcpBytes.Add(uint64(val))
	case "tcp.connect":
		s.tcpConnects.Add(1)
	case "msg.dead":
		s.dead.Add(1)
	case "msg.suspect":
		s.suspect.Add(1)
	}
}

func (s *trafficSink) IncrCounter(key []string, val float32) {
	s.IncrCounterWithLabels(key, val, nil)
}

func (s *trafficSink) SetGauge([]string, float32)                             {}
func (s *trafficSink) SetGaugeWithLabels([]string, float32, []metrics.Label)  {}
func (s *trafficSink) EmitKey([]string, float32)                              {}
func (s *trafficSink) AddSample([]string, float32)                            {}
func (s *trafficSink) AddSampleWithLabels([]string, float32, []metrics.Label) {}

// installSink makes s go-metrics' global sink, which memberlist reports to.
func installSink(s *trafficSink) error {
	cfg := metrics.DefaultConfig("")
	cfg.EnableHostname = false
	cfg.EnableRuntimeMetrics = false
	if _, err := metrics.NewGlobal(cfg, s); err != nil {
		return err
	}
	return nil
}
