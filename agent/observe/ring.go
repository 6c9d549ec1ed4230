package observe

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Record header bits of a BPF ring buffer (include/uapi/linux/bpf.h:
// BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ).
const (
	ringBusy    = 1 << 31
	ringDiscard = 1 << 30
	ringHdrSize = 8
)

// ringReleaseEvery is how many bytes the reader consumes between two
// stores of its position: the producers read that position on every
// record they reserve, so a store per record would move its cache line
// between the CPUs once per message.
const ringReleaseEvery = 64 << 10

// ring reads the observer's BPF ring buffer in batches. The kernel wakes
// it only once AXS_WAKEUP_BYTES wait (bpf/axon_sock.c), and it waits for
// that wakeup edge-triggered: a level-triggered wait (as
// github.com/cilium/ebpf/ringbuf's reader does) returns at once whenever
// any record waits, so under load the reader chased the producers a few
// records per system call instead of taking the batch the kernel's
// wakeup announced.
type ring struct {
	cons, prod []byte // the mmap'ed consumer page, and producer page + data (mapped twice)
	consPos    *uint64
	prodPos    *uint64
	data       []byte
	mask       uint64
	epfd       int
	events     [1]unix.EpollEvent
}

// openRing maps ring buffer m and registers it for edge-triggered waits.
func openRing(m *ebpf.Map) (*ring, error) {
	size := int(m.MaxEntries())
	page := os.Getpagesize()
	r := &ring{mask: uint64(size - 1), epfd: -1}
	var err error
	if r.cons, err = unix.Mmap(m.FD(), 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mapping the ring buffer's consumer page: %w", err)
	}
	if r.prod, err = unix.Mmap(m.FD(), int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		r.Close()
		return nil, fmt.Errorf("mapping the ring buffer's data: %w", err)
	}
	r.consPos = (*uint64)(unsafe.Pointer(&r.cons[0]))
	r.prodPos = (*uint64)(unsafe.Pointer(&r.prod[0]))
	r.data = r.prod[page:]
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		r.Close()
		return nil, fmt.Errorf("creating the ring buffer's epoll: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, m.FD(), &ev); err != nil {
		r.Close()
		return nil, fmt.Errorf("registering the ring buffer with epoll: %w", err)
	}
	return r, nil
}

// drain hands every committed record, in order, to handle, until the ring
// is empty, a record is still being written, or it has handed a ring's
// worth of bytes; more reports the last: records wait, and its caller, who
// looks at its clock and ctx between drains, should drain again before it
// waits (producers as fast as the reader would otherwise keep one drain
// going forever). A record's bytes are valid only during its call: they
// are the ring's memory, which the kernel reuses once the position moves
// past them.
func (r *ring) drain(handle func([]byte)) (n int, more bool) {
	cons := atomic.LoadUint64(r.consPos)
	first, released := cons, cons
	for {
		prod := atomic.LoadUint64(r.prodPos)
		if cons == prod {
			break
		}
		if cons-first > r.mask {
			more = true
			break
		}
		start := cons & r.mask
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[start])))
		if hdr&ringBusy != 0 {
			break // reserved, not yet submitted: the next drain takes it
		}
		length := uint64(hdr &^ (ringBusy | ringDiscard))
		next := cons + (ringHdrSize+length+7)&^7
		if hdr&ringDiscard == 0 {
			// The data is mapped twice, so a record that wraps is one slice.
			handle(r.data[start+ringHdrSize : start+ringHdrSize+length])
			n++
		}
		cons = next
		if cons-released >= ringReleaseEvery {
			atomic.StoreUint64(r.consPos, cons)
			released = cons
		}
	}
	if cons != released {
		atomic.StoreUint64(r.consPos, cons)
	}
	return n, more
}

// wait blocks until the kernel's next wakeup or until timeout passes. A
// signal ends epoll_wait early (EINTR): the wait goes on for what is left
// of timeout, not for a new one, or signals every few milliseconds would
// keep it from ever returning.
func (r *ring) wait(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := unix.EpollWait(r.epfd, r.events[:], int(max(time.Until(deadline), 0).Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting on the ring buffer: %w", err)
		}
		return nil
	}
}

// Close unmaps the ring and closes its epoll descriptor.
func (r *ring) Close() error {
	if r.epfd >= 0 {
		unix.Close(r.epfd)
		r.epfd = -1
	}
	for _, b := range [][]byte{r.cons, r.prod} {
		if b != nil {
			unix.Munmap(b)
		}
	}
	r.cons, r.prod = nil, nil
	return nil
}
