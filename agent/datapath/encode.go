package datapath

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/bpf/shared"
	"github.com/axon-dev/axon/policy/table"
)

// Datapath bounds a Table must fit and constants of the map contents
// (bpf/include/axon_shared.h, generated into bpf/shared).
const (
	maxMethodLen = table.MaxMethodLen // the method key
	maxRowGlobs  = int(shared.SharedAxBoundAX_BOUND_ROW_GLOBS)
	portWords    = uint32(shared.SharedAxBoundAX_BOUND_PORT_WORDS)
	// MaxGlobPath is the longest path globs are tested on; for longer paths
	// a Deny glob counts as matching and an Allow glob as not (fail closed).
	MaxGlobPath = table.MaxGlobPath
	// MaxRules: rule IDs at or above it are counted against rule 0.
	MaxRules = uint32(shared.SharedAxBoundAX_BOUND_MAX_RULES)

	epEnforce = uint8(shared.SharedAxWireAX_EP_ENFORCE)
	epPoliced = uint8(shared.SharedAxWireAX_EP_POLICED)
	portAny   = uint16(shared.SharedAxWireAX_PORT_ANY) // the summary entry of an address

	// LPM prefix lengths: the bits every lookup matches in full before
	// the address or path, and the IPv4-mapped prefix of IPv4 addresses.
	cidrFixedBits  = int(shared.SharedAxWireAX_CIDR_KEY_FIXED_BITS)
	pathFixedBits  = int(shared.SharedAxWireAX_PATH_KEY_FIXED_BITS)
	ipv4MappedBits = int(shared.SharedAxWireAX_IPV4MAPPED_BITS)
)

// decisionMaps are the maps whose keys carry a generation, and where in the
// key the generation byte is.
var decisionMaps = []struct {
	name   string
	genOff int // -1: the policed_ports array, whose index says the generation
}{
	{bpf.AxonMapPolicedPorts, -1},
	{bpf.AxonMapEndpoints, 0},
	{bpf.AxonMapPodIps, 0},
	{bpf.AxonMapCidrs, 4},
	{bpf.AxonMapClasses, 0},
	{bpf.AxonMapMethods, 0},
	{bpf.AxonMapPaths, 4},
	{bpf.AxonMapPathHash, 0},
	{bpf.AxonMapPathLens, 0},
	{bpf.AxonMapGlobs, 0},
}

// keyGen is the generation a decision map key belongs to.
func keyGen(genOff int, k []byte) (uint8, bool) {
	if genOff < 0 {
		if len(k) != 4 {
			return 0, false
		}
		return uint8(binary.LittleEndian.Uint32(k) / portWords & 1), true
	}
	if len(k) <= genOff {
		return 0, false
	}
	return k[genOff] & 1, true
}

// generation is the content of every decision map for one generation:
// map name -> key bytes -> value bytes.
type generation map[string]map[string][]byte

func newGeneration() generation {
	g := generation{}
	for _, m := range decisionMaps {
		g[m.name] = map[string][]byte{}
	}
	return g
}

// marshal is v as the map holds it: the generated types are laid out as
// the C structs, their padding spelled out as blank fields, so the bytes of
// the Go value are the map's bytes (host order, as every BPF map).
// binary.Write gave the same bytes on little-endian hosts through
// reflection, which was most of encoding a table (TestMarshalLayout).
func marshal[T any](v T) []byte {
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v)))
}

func put[K, V any](g generation, m string, k K, v V) {
	g[m][string(unsafe.Slice((*byte)(unsafe.Pointer(&k)), unsafe.Sizeof(k)))] = marshal(v)
}

// addr16 is the datapath's form of an address: IPv6, or IPv4-mapped IPv6.
func addr16(a netip.Addr) [16]byte { return a.As16() }

// encode lays a Table out as the map entries of generation gen.
func encode(t *table.Table, gen uint8) (generation, error) {
	g, err := encodeRest(t, gen)
	if err != nil {
		return nil, err
	}
	plan, err := planPaths(t, maxTrieLens)
	if err != nil {
		return nil, err
	}
	plan.putRows(g, gen)
	if err := plan.putGlobs(g, gen); err != nil {
		return nil, err
	}
	return g, nil
}

// encodeRest lays out every map of a Table but the paths, path_hash,
// path_lens and globs maps (pathPlan's).
func encodeRest(t *table.Table, gen uint8) (generation, error) {
	g := newGeneration()
	var ports [portWords]uint64
	for _, e := range t.Endpoints {
		ports[e.Port/64] |= 1 << (e.Port % 64)
	}
	for i, w := range ports {
		// Every word is written (an array entry cannot be deleted).
		put(g, bpf.AxonMapPolicedPorts, uint32(gen)*portWords+uint32(i), w)
	}
	for _, e := range t.Endpoints {
		k := bpf.AxonAxEndpointKey{Gen: gen, Port: e.Port, Addr: addr16(e.Addr)}
		v := bpf.AxonAxEndpoint{
			Id:            e.ID,
			EnforceAction: uint8(e.EnforceDefault.Action),
			FullAction:    uint8(e.FullDefault.Action),
			EnforceRule:   uint32(e.EnforceDefault.Rule),
			FullRule:      uint32(e.FullDefault.Rule),
		}
		if e.Enforce {
			v.Flags |= epEnforce
		}
		put(g, bpf.AxonMapEndpoints, k, v)
	}
	// Per address, the summary of its ports (AX_PORT_ANY): what fragments
	// and tagged frames, whose port cannot be trusted, are judged by.
	summary := map[[16]byte]uint8{}
	for _, e := range t.Endpoints {
		f := summary[addr16(e.Addr)] | epPoliced
		if e.Enforce {
			f |= epEnforce
		}
		summary[addr16(e.Addr)] = f
	}
	for a, f := range summary {
		put(g, bpf.AxonMapEndpoints, bpf.AxonAxEndpointKey{Gen: gen, Port: portAny, Addr: a}, bpf.AxonAxEndpoint{Flags: f})
	}
	for _, p := range t.PodIPs {
		put(g, bpf.AxonMapPodIps, bpf.AxonAxAddrKey{Gen: gen, Addr: addr16(p.Addr)}, p.Identity)
	}
	for _, c := range t.CIDRs {
		p := c.Prefix.Masked()
		bits := p.Bits()
		if p.Addr().Is4() {
			bits += ipv4MappedBits
		}
		k := bpf.AxonAxCidrKey{Prefixlen: uint32(cidrFixedBits + bits), Gen: gen, Addr: addr16(p.Addr())}
		put(g, bpf.AxonMapCidrs, k, c.Identity)
	}
	for _, c := range t.Classes {
		k := bpf.AxonAxClassKey{Gen: gen, Endpoint: c.Endpoint, Identity: c.Identity}
		put(g, bpf.AxonMapClasses, k, uint32(c.Class))
	}
	for _, m := range t.Methods {
		if len(m.Name) > maxMethodLen {
			return nil, fmt.Errorf("%w: method %q longer than %d bytes", ErrTableTooLarge, m.Name, maxMethodLen)
		}
		k := bpf.AxonAxMethodKey{Gen: gen, Len: uint8(len(m.Name))}
		copy(k.Name[:], m.Name)
		put(g, bpf.AxonMapMethods, k, uint32(m.ID))
	}
	return g, nil
}
