package datapath

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/axon-dev/axon/bpf"
)

// ForgetUnpolicedFlows deletes the flows of connections whose endpoint the
// table in force does not police, and returns how many it deleted. While an
// endpoint is not policed the programs never look at its flows: the
// server's stack takes bytes the flow never saw, and when the endpoint is
// policed again the flow's next byte would be behind the server's, so that
// an allowed copy of the bytes the server already holds could end a denied
// request it took meanwhile (red team rt30). Without its flow, such a
// connection's next data is refused (no_flow), as for one whose start was
// not seen. Apply calls it after a flip to a table that leaves out an
// endpoint; the flow expiry pass does the same check.
func (d *Datapath) ForgetUnpolicedFlows() (int, error) {
	policed, err := d.flowPoliced()
	if err != nil {
		return 0, err
	}
	st, err := d.sweepFlows(func(k *bpf.AxonAxFlowKey, v *bpf.AxonAxFlow) sweep {
		if policed(k, v) {
			return keep
		}
		return forget
	})
	return st.Expired, err
}

// ForgetFlowsOn deletes the flows recorded on interface ifindex, and
// returns how many it deleted: for an interface whose programs were
// detached for a while (a qdisc deleted by another tool), for the same
// reason as ForgetUnpolicedFlows.
func (d *Datapath) ForgetFlowsOn(ifindex uint32) (int, error) {
	st, err := d.sweepFlows(func(_ *bpf.AxonAxFlowKey, v *bpf.AxonAxFlow) sweep {
		if v.Ifindex == ifindex {
			return forget
		}
		return keep
	})
	return st.Expired, err
}

// flowPoliced returns whether the generation in force polices a flow's
// endpoint, as ax_endpoint_of (bpf/include/endpoint.h) decides for its
// packets: the server's port in the policed-port bitmap, and an endpoint
// for the server's address and port, or else for the address the
// interface's pod record gives in the flow's family. Endpoint lookups are
// kept for the pass.
func (d *Datapath) flowPoliced() (func(*bpf.AxonAxFlowKey, *bpf.AxonAxFlow) bool, error) {
	var cfg bpf.AxonAxConfig
	if err := d.objs.Config.Lookup(uint32(0), &cfg); err != nil {
		return nil, fmt.Errorf("reading the generation in force: %w", err)
	}
	gen := uint8(cfg.ActiveGen & 1)
	type epKey struct {
		addr [16]byte
		port uint16
	}
	known := map[epKey]bool{}
	endpoint := func(addr [16]byte, port uint16) bool {
		if p, ok := known[epKey{addr, port}]; ok {
			return p
		}
		var ep bpf.AxonAxEndpoint
		p := d.objs.Endpoints.Lookup(bpf.AxonAxEndpointKey{Gen: gen, Port: port, Addr: addr}, &ep) == nil
		known[epKey{addr, port}] = p
		return p
	}
	return func(k *bpf.AxonAxFlowKey, v *bpf.AxonAxFlow) bool {
		var bits uint64
		word := uint32(gen)*portWords + uint32(k.Dport/64)
		if d.objs.PolicedPorts.Lookup(word, &bits) != nil || bits>>(k.Dport%64)&1 == 0 {
			return false
		}
		if endpoint(k.Daddr, k.Dport) {
			return true
		}
		var ifc bpf.AxonAxIface
		if d.objs.Ifaces.Lookup(v.Ifindex, &ifc) != nil {
			return false
		}
		addr := ifc.Addr6
		if v6 := !netip.AddrFrom16(k.Daddr).Is4In6(); (!v6 || ifc.HasV6 == 0) && ifc.HasV4 != 0 {
			addr = ifc.Addr4
		}
		return endpoint(addr, k.Dport)
	}, nil
}

// dropsEndpoints says whether generation next (want) leaves out an
// endpoint that old, the generation in force, polices: only then can a
// flow lose its endpoint, and Apply look for such flows.
func dropsEndpoints(old, want generation, next uint8) bool {
	for k := range old[bpf.AxonMapEndpoints] {
		nk := []byte(k)
		nk[0] = next
		if _, ok := want[bpf.AxonMapEndpoints][string(nk)]; !ok {
			return true
		}
	}
	return false
}

// Received says how many bytes the server's socket of a connection (client
// and server as the flow key names them) has received from the client, and
// whether that socket can vouch for the flow at all (found, and nothing
// else it received says it took bytes the flow never saw).
type Received func(client, server netip.AddrPort) (uint64, bool)

// ForgetUnverifiedFlowsOn deletes the flows recorded on interface ifindex
// that the server's own socket does not vouch for, and returns how many it
// deleted and how many it kept pending. received answers from the sockets
// as listed at monotonic time listed (Monotonic). The socket vouches for a
// flow when it has received exactly the client bytes the flow let through
// and the server acknowledged them all, through the reply program: it holds
// the copies the flow parsed (rule 3). A socket not found, or one that
// received more than the flow let through (bytes the flow never saw), makes
// the flow go. Fewer bytes, or bytes not acknowledged yet, may be bytes in
// flight: unless final, such a flow is kept and counted pending, for the
// caller to ask again; when final it goes too. Flows that pass everything
// (a tunnel, Audit gave up parsing) or whose connection ended are kept as
// they are: no stream position of theirs decides anything. So are flows
// born since the listing, which it cannot know: their SYN-ACK came through
// the reply program after the caller found it in place, as any flow's does
// while an agent runs.
func (d *Datapath) ForgetUnverifiedFlowsOn(ifindex uint32, received Received, listed time.Duration, final bool) (forgotten, stillPending int, err error) {
	st, err := d.sweepFlows(func(k *bpf.AxonAxFlowKey, v *bpf.AxonAxFlow) sweep {
		if v.Ifindex != ifindex || time.Duration(v.BornNs) >= listed {
			return keep
		}
		switch v.State {
		case flowStatePass, flowStateTunnel, flowStateReset, flowStateClosed:
			return keep
		}
		client := netip.AddrPortFrom(netip.AddrFrom16(k.Saddr), k.Sport)
		server := netip.AddrPortFrom(netip.AddrFrom16(k.Daddr), k.Dport)
		n, ok := received(client, server)
		let := v.NextSeq - v.BaseSeq
		switch {
		case !ok || n >= 1<<32 || v.Wrapped != 0 || int32(uint32(n)-let) > 0:
			// The flow counts stream positions modulo 2^32: a socket
			// that received 4 GiB, or a flow whose positions went
			// round, cannot say the socket took no more.
			return forget
		case uint32(n) != let || v.SrvAck != v.NextSeq:
			if final {
				return forget
			}
			return pending
		}
		return keep
	})
	return st.Expired, st.Pending, err
}
