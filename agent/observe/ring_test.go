package observe

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// ringWriter is a kernel ring buffer and a program that copies
// the first (skb->len & 63) + 1 bytes of an array map's value into it with
// bpf_ringbuf_output: the test sets the value, runs the program with
// BPF_PROG_TEST_RUN, and the kernel writes the record as it writes the
// observer's events.
type ringWriter struct {
	rb, src *ebpf.Map
	prog    *ebpf.Program
}

func newRingWriter(t *testing.T, size uint32) *ringWriter {
	netns.RequireRoot(t)
	rb, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	src, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 64, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, src.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.LoadMem(asm.R3, asm.R6, 0, asm.Word), // __sk_buff.len
		asm.And.Imm(asm.R3, 63),
		asm.Add.Imm(asm.R3, 1),
		asm.LoadMapPtr(asm.R1, rb.FD()),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return &ringWriter{rb: rb, src: src, prog: prog}
}

// openTestRing is a ringWriter of size bytes and the reader's ring on it,
// closed when t ends.
func openTestRing(t *testing.T, size uint32) (*ringWriter, *ring) {
	w := newRingWriter(t, size)
	r, err := openRing(w.rb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

// write makes the kernel write a record of size bytes (1-64) whose first
// 8 bytes are seq and the rest a pattern of seq.
func (w *ringWriter) write(t *testing.T, seq uint64, size int) {
	var v [64]byte
	binary.LittleEndian.PutUint64(v[:], seq)
	for i := 8; i < len(v); i++ {
		v[i] = byte(seq) + byte(i)
	}
	if err := w.src.Put(uint32(0), v[:]); err != nil {
		t.Fatal(err)
	}
	// The test run takes an Ethernet header off the packet: skb->len is
	// 63 + size, so (len & 63) + 1 is size.
	pkt := make([]byte, 14+63+size)
	if _, err := w.prog.Run(&ebpf.RunOptions{Data: pkt}); err != nil {
		t.Fatal(err)
	}
}

// TestRingDrain: records the kernel writes come out of drain whole and in
// order, across many wraps of a one-page ring (records wrap around its
// end), with the reader's position released in batches and the ring
// drained at random points.
func TestRingDrain(t *testing.T) {
	w, r := openTestRing(t, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	type rec struct {
		seq  uint64
		size int
	}
	var want []rec
	var got []rec
	check := func(b []byte) {
		var seq uint64
		if len(b) >= 8 {
			seq = binary.LittleEndian.Uint64(b)
		}
		for i := 8; i < len(b); i++ {
			if b[i] != byte(seq)+byte(i) {
				t.Fatalf("record %d byte %d: %d", seq, i, b[i])
			}
		}
		got = append(got, rec{seq, len(b)})
	}
	waiting := 0 // bytes the ring holds
	for seq := uint64(1); seq <= 5000; seq++ {
		size := 8 + rng.IntN(57)
		need := (size + 8 + 7) &^ 7 // header and data, rounded to 8 bytes
		if waiting+need > 4096 || rng.IntN(20) == 0 {
			r.drain(check)
			waiting = 0
		}
		w.write(t, seq, size)
		want = append(want, rec{seq, size})
		waiting += need
	}
	r.drain(check)
	if len(got) != len(want) {
		t.Fatalf("drained %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n, _ := r.drain(check); n != 0 {
		t.Errorf("an empty ring drained %d records", n)
	}
}

// TestRingWaitTimesOut: with nothing written, wait returns after its
// timeout (the reader's poll), not at once and not never.
func TestRingWaitTimesOut(t *testing.T) {
	_, r := openTestRing(t, 4096)
	start := time.Now()
	if err := r.wait(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 5*time.Second {
		t.Errorf("wait returned after %v, want about 50ms", d)
	}
}

// TestRingDrainReturnsWhileWritten: drain returns after about one ring's
// worth of records even when the kernel writes a record for every record
// it hands (producers as fast as the reader), so that Run gets back to its
// ctx and clock; the records it left come out of the next drains, whole
// and in order.
func TestRingDrainReturnsWhileWritten(t *testing.T) {
	const ringSize, size = 1 << 20, 64
	w, r := openTestRing(t, ringSize)
	perRing := ringSize / (size + ringHdrSize)
	total := uint64(3 * perRing)
	written, got := uint64(1), uint64(0)
	w.write(t, written, size)
	handle := func(b []byte) {
		got++
		if s := binary.LittleEndian.Uint64(b); s != got || len(b) != size {
			t.Fatalf("record %d: seq %d, %d bytes", got, s, len(b))
		}
		if written < total {
			written++
			w.write(t, written, size)
		}
	}
	n, more := r.drain(handle)
	if n > perRing+1 || !more {
		t.Fatalf("with the kernel writing as fast as it read, drain handed %d records (more %v); want at most a ring's worth (%d) and more", n, more, perRing)
	}
	for i := 0; got < total && i < 100; i++ {
		r.drain(handle)
	}
	if got != total {
		t.Fatalf("drained %d records, want %d", got, total)
	}
}

// TestRingWaitTimesOutUnderSignals: signals to the waiting thread, each of
// which ends its epoll_wait with EINTR, do not put off wait's return past
// its timeout (Run looks at ctx only between waits).
func TestRingWaitTimesOutUnderSignals(t *testing.T) {
	_, r := openTestRing(t, 4096)
	tid := make(chan int, 1)
	done := make(chan time.Duration, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		start := time.Now()
		if err := r.wait(200 * time.Millisecond); err != nil {
			t.Error(err)
		}
		done <- time.Since(start)
	}()
	id := <-tid
	signal := time.NewTicker(20 * time.Millisecond)
	defer signal.Stop()
	giveUp := time.After(3 * time.Second)
	for {
		select {
		case d := <-done:
			if d > time.Second {
				t.Errorf("wait(200ms) returned after %v under signals", d)
			}
			return
		case <-signal.C:
			// SIGURG: the Go runtime's own preemption signal, harmless.
			if err := unix.Tgkill(os.Getpid(), id, unix.SIGURG); err != nil {
				t.Fatal(err)
			}
		case <-giveUp:
			t.Errorf("wait(200ms) had not returned after 3s of a signal every 20ms")
			<-done // without signals it returns 200ms later
			return
		}
	}
}
