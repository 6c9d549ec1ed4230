package datapath

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
)

// openBaseline loads the datapath object named by AXON_BASELINE_OBJ (make
// bench extracts the committed object of an earlier revision) with its
// decision maps replaced by d's: both programs then decide on the same
// table, and only the code differs.
func openBaseline(b *testing.B, d *Datapath) *ebpf.Collection {
	path := os.Getenv("AXON_BASELINE_OBJ")
	if path == "" {
		b.Skip("AXON_BASELINE_OBJ is not set (make bench sets it to the datapath object of BASELINE_REV)")
	}
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		b.Fatalf("loading the baseline object: %v", err)
	}
	repl := map[string]*ebpf.Map{bpf.AxonMapConfig: d.objs.Config}
	for _, dm := range decisionMaps {
		repl[dm.name] = d.mapByName(dm.name)
	}
	for name, m := range repl {
		ms, ok := spec.Maps[name]
		if !ok || ms.KeySize != m.KeySize() || ms.ValueSize != m.ValueSize() || ms.Type != m.Type() {
			b.Skipf("the baseline's map %s has another layout: the two programs cannot share a table", name)
		}
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	for name, v := range map[string]uint32{"cfg_reflect_rst": 0, "cfg_event_rate": 0} {
		if sv, ok := spec.Variables[name]; ok {
			if err := sv.Set(v); err != nil {
				b.Fatal(err)
			}
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: repl})
	if err != nil {
		b.Fatalf("loading the baseline programs: %v", err)
	}
	b.Cleanup(coll.Close)
	return coll
}

// contender is one program measured in a before/after comparison; setup
// puts its flow table into the state the packet expects.
type contender struct {
	name  string
	prog  *ebpf.Program
	setup func()
}

// benchContenders times each contender on the same packet, one run at a
// time (the packet changes the flow table), interleaved, and reports each
// one's ns per packet and its ratio to the first.
func benchContenders(b *testing.B, in []byte, cs []contender) {
	const per = 500
	total := make([]time.Duration, len(cs))
	for i := 0; i < b.N; i++ {
		for j := 0; j < per; j++ {
			for k, c := range cs {
				c.setup()
				_, dt, err := c.prog.Benchmark(in, 1, nil)
				if err != nil {
					b.Fatal(err)
				}
				total[k] += dt
			}
		}
	}
	n := float64(b.N * per)
	for k, c := range cs {
		b.ReportMetric(float64(total[k].Nanoseconds())/n, c.name+"-ns/pkt")
		if k > 0 {
			b.ReportMetric(float64(total[k])/float64(total[0]), c.name+"/"+cs[0].name)
		}
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBeforeAfter compares the datapath with the one of BASELINE_REV
// (before the TCP normalizer) on the same 10,000-row table, beside the
// no-op program, in the same run.
func BenchmarkBeforeAfter(b *testing.B) {
	netns.RequireRoot(b)
	d, err := Open(WithoutClientReset(), WithEventRate(0))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	registerReply(d)
	if err := d.Apply(bigTable(10000)); err != nil {
		b.Fatal(err)
	}
	old := openBaseline(b, d)
	oldProg, oldFlows := old.Programs["axon_ingress"], old.Maps["flows"]
	var noop bpf.NoopObjects
	if err := bpf.LoadNoopObjects(&noop, nil); err != nil {
		b.Fatal(err)
	}
	defer noop.Close()
	nothing := func() {}
	key := func(src netip.AddrPort) bpf.AxonAxFlowKey {
		return bpf.AxonAxFlowKey{Saddr: src.Addr().As16(), Daddr: server.Addr().As16(), Sport: src.Port(), Dport: server.Port()}
	}

	// A connection's first data segment with a whole request. Before, the
	// program created the flow from it; now the server's SYN-ACK has.
	small := "GET /api/v1/resource01234/items HTTP/1.1\r\nHost: s\r\n\r\n"
	large := "GET /api/v1/resource01234/items HTTP/1.1\r\nHost: shop.example\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
		"Accept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Cookie: session=0123456789abcdef0123456789abcdef; prefs=dark; cart=42; consent=yes\r\n" +
		"Referer: https://shop.example/api/v1/\r\nX-Request-Id: 7b1c5a0e-4a3e-4a9b-9d2e-3f0b2c1d4e5f\r\n\r\n"
	for i, c := range []struct{ name, req string }{{"HTTP-request-10k-rows", small}, {"HTTP-request-500B-headers", large}} {
		b.Run(c.name, func(b *testing.B) {
			src := netip.AddrPortFrom(client, uint16(40011+i))
			pkt := segment{src: src, dst: server, seq: 1, ack: 1, flags: tcpACK | tcpPSH, payload: []byte(c.req)}.bytes()
			k := key(src)
			fresh := bpf.AxonAxFlow{NextSeq: 1, BaseSeq: 1, SrvAck: 1, SrvNxt: 1, Ifindex: 1}
			benchContenders(b, pkt, []contender{
				{"before", oldProg, func() { _ = oldFlows.Delete(k) }},
				{"after", d.Ingress(), func() {
					if err := d.objs.Flows.Put(k, fresh); err != nil {
						b.Fatal(err)
					}
				}},
				{"noop", noop.Noop, nothing},
			})
		})
	}
	b.Run("TCP-unpoliced-port", func(b *testing.B) {
		pkt := segment{src: netip.AddrPortFrom(client, 40000), dst: netip.AddrPortFrom(server.Addr(), 9999),
			seq: 1, ack: 1, flags: tcpACK | tcpPSH, payload: []byte("GET / HTTP/1.1\r\n\r\n")}.bytes()
		benchContenders(b, pkt, []contender{{"before", oldProg, nothing}, {"after", d.Ingress(), nothing}, {"noop", noop.Noop, nothing}})
	})
	b.Run("server-ACK", func(b *testing.B) {
		// The reply direction: a pure ACK of a policed connection.
		src := netip.AddrPortFrom(client, 40013)
		k := key(src)
		flow := bpf.AxonAxFlow{NextSeq: 100, BaseSeq: 1, SrvAck: 1, SrvNxt: 2, Ifindex: 1}
		pkt := segment{src: server, dst: src, seq: 1, ack: 50, flags: tcpACK}.bytes()
		benchContenders(b, pkt, []contender{
			{"before", old.Programs["axon_egress"], func() { _ = oldFlows.Put(k, make([]byte, oldFlows.ValueSize())) }},
			{"after", d.Reply(), func() {
				if err := d.objs.Flows.Put(k, flow); err != nil {
					b.Fatal(err)
				}
			}},
			{"noop", noop.Noop, nothing},
		})
	})
}
