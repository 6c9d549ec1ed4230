package attach

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// tfoServerEnable is net.ipv4.tcp_fastopen's bit that lets servers take
// data in a SYN (TFO_SERVER_ENABLE).
const tfoServerEnable = 0x2

// fastOpenServer reports whether the network namespace ns lets servers take
// fast-open data, from its net.ipv4.tcp_fastopen (read from /proc/sys by a
// thread in ns: the file shows the reader's namespace). An invalid handle
// means this namespace. When the value cannot be read the answer is true,
// which only makes the datapath stricter.
func fastOpenServer(ns netns.NsHandle) bool {
	v, err := readInNetns(ns, "/proc/sys/net/ipv4/tcp_fastopen")
	if err != nil {
		return true
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 0, 32)
	return err != nil || n&tfoServerEnable != 0
}

// readInNetns reads file from a thread in namespace ns (an invalid handle:
// this one). The thread is one of its own: if it cannot return to this
// namespace it ends with its goroutine, so no other code runs in ns.
func readInNetns(ns netns.NsHandle, file string) (string, error) {
	if !ns.IsOpen() {
		b, err := os.ReadFile(file)
		return string(b), err
	}
	type result struct {
		text string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("entering network namespace: %w", err)}
			return
		}
		b, readErr := os.ReadFile(file)
		if err := netns.Set(orig); err != nil {
			// Still locked: the thread ends with this goroutine.
			done <- result{err: fmt.Errorf("leaving network namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{string(b), readErr}
	}()
	r := <-done
	return r.text, r.err
}

// FastOpenServers reports, for each of the network namespace ids given (ids
// in this namespace, as a veth's link-netnsid), whether that namespace lets
// servers take fast-open data now. A pod may turn it on after its interface
// was recorded (Kubernetes applies a pod's sysctls after its network is set
// up), so the agent asks again on every attachment check. Each namespace is
// reopened by the path it was found at, if that path still names the same
// namespace (its inode). A namespace not found that way (the process whose
// /proc path it was exited, its name was unmounted) is reported as letting
// servers take fast-open data, the strict answer, until a scan of the
// node's namespaces (at most every rescanEvery) finds it again.
func FastOpenServers(ids []int32) map[int32]bool {
	out := map[int32]bool{}
	missing := map[int]bool{}
	for _, id := range ids {
		if id < 0 {
			out[id] = fastOpenServer(netns.None())
			continue
		}
		out[id] = true // until read
		ns, ok := nsPaths.open(id)
		if !ok {
			missing[int(id)] = true
			continue
		}
		out[id] = fastOpenServer(ns)
		ns.Close()
	}
	if len(missing) > 0 && nsPaths.rescanDue(time.Now()) {
		_ = scanNetns(missing, func(id int, _ string, ns netns.NsHandle) error {
			out[int32(id)] = fastOpenServer(ns)
			return nil
		})
	}
	return out
}

// rescanEvery bounds how often FastOpenServers scans the node's namespaces
// for the ones it lost track of: a scan opens every process's namespace.
const rescanEvery = 10 * time.Second

// nsPaths remembers where each pod namespace (by id) was found, and the
// namespace's inode then.
var nsPaths = &nsPathCache{m: map[int32]nsPath{}}

type nsPath struct {
	path string
	ino  uint64
}

type nsPathCache struct {
	mu       sync.Mutex
	m        map[int32]nsPath
	lastScan time.Time
}

// rescanDue reports whether a rescan may run now, and if so notes it.
func (c *nsPathCache) rescanDue(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.lastScan) < rescanEvery {
		return false
	}
	c.lastScan = now
	return true
}

func (c *nsPathCache) remember(id int32, path string, ino uint64) {
	c.mu.Lock()
	c.m[id] = nsPath{path, ino}
	c.mu.Unlock()
}

func (c *nsPathCache) forget(id int32) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// open opens namespace id at the path it was found at, if that path still
// names it; a path that fails is forgotten.
func (c *nsPathCache) open(id int32) (netns.NsHandle, bool) {
	path, ok := c.lookup(id)
	if !ok {
		return -1, false
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		c.forget(id)
		return -1, false
	}
	return ns, true
}

// lookup returns the path namespace id was found at, if it still names the
// same namespace.
func (c *nsPathCache) lookup(id int32) (string, bool) {
	c.mu.Lock()
	p, ok := c.m[id]
	c.mu.Unlock()
	if !ok {
		return "", false
	}
	var st unix.Stat_t
	if unix.Stat(p.path, &st) != nil || st.Ino != p.ino {
		c.forget(id)
		return "", false
	}
	return p.path, true
}
