package datapath

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/axon-dev/axon/bpf"
)

// TestMarshalLayout: marshal copies a value's memory, so every type written
// into a map must have no padding Go adds on its own (the C padding is in
// blank fields) and must give binary.Write's little-endian bytes, whatever
// its field values.
func TestMarshalLayout(t *testing.T) {
	check := func(name string, fill func(r *bytes.Reader) (got []byte, want []byte, size, wire int, err error)) {
		t.Helper()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 50; i++ {
			buf := make([]byte, 4096)
			for j := range buf {
				buf[j] = byte(rng.UintN(256))
			}
			got, want, size, wire, err := fill(bytes.NewReader(buf))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if size != wire {
				t.Fatalf("%s: %d bytes in memory, %d on the wire: Go pads it", name, size, wire)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: marshal gives\n%x\nbinary.Write gives\n%x", name, got, want)
			}
		}
	}
	check("uint32", layoutOf[uint32])
	check("uint64", layoutOf[uint64])
	check("AxonAxEndpointKey", layoutOf[bpf.AxonAxEndpointKey])
	check("AxonAxEndpoint", layoutOf[bpf.AxonAxEndpoint])
	check("AxonAxAddrKey", layoutOf[bpf.AxonAxAddrKey])
	check("AxonAxCidrKey", layoutOf[bpf.AxonAxCidrKey])
	check("AxonAxClassKey", layoutOf[bpf.AxonAxClassKey])
	check("AxonAxMethodKey", layoutOf[bpf.AxonAxMethodKey])
	check("AxonAxPathKey", layoutOf[bpf.AxonAxPathKey])
	check("AxonAxPathVal", layoutOf[bpf.AxonAxPathVal])
	check("AxonAxGlobKey", layoutOf[bpf.AxonAxGlobKey])
	check("AxonAxGlob", layoutOf[bpf.AxonAxGlob])
	check("AxonAxConfig", layoutOf[bpf.AxonAxConfig])
}

// layoutOf fills a T from r (every field but the blank ones) and returns
// marshal's bytes and binary.Write's for it.
func layoutOf[T any](r *bytes.Reader) (got, want []byte, size, wire int, err error) {
	var v T
	if err := binary.Read(r, binary.LittleEndian, &v); err != nil {
		return nil, nil, 0, 0, err
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		return nil, nil, 0, 0, err
	}
	g := generation{"m": map[string][]byte{}}
	put(g, "m", v, v)
	for k, val := range g["m"] {
		if k != string(val) {
			return nil, nil, 0, 0, fmt.Errorf("put's key %x differs from its value %x", k, val)
		}
	}
	return marshal(v), b.Bytes(), int(unsafe.Sizeof(v)), binary.Size(v), nil
}
