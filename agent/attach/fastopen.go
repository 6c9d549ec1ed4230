package attach

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

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
// this one).
func readInNetns(ns netns.NsHandle, file string) (string, error) {
	if !ns.IsOpen() {
		b, err := os.ReadFile(file)
		return string(b), err
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return "", fmt.Errorf("current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return "", fmt.Errorf("entering network namespace: %w", err)
	}
	b, readErr := os.ReadFile(file)
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, so it ends with its goroutine instead of
		// running other goroutines in the pod's namespace.
		return "", fmt.Errorf("leaving network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return string(b), readErr
}

// FastOpenServers reports, for each of the network namespace ids given (ids
// in this namespace, as a veth's link-netnsid), whether that namespace lets
// servers take fast-open data now. A pod may turn it on after its interface
// was recorded (Kubernetes applies a pod's sysctls after its network is set
// up), so the agent asks again on every attachment check. Each namespace is
// reopened by the path LocalVethPeers found it at, if that path still names
// the same namespace (its inode); namespaces not found that way are left
// out (LocalVethPeers finds them again when the node's veths change).
func FastOpenServers(ids []int32) map[int32]bool {
	out := map[int32]bool{}
	for _, id := range ids {
		if id < 0 {
			out[id] = fastOpenServer(netns.None())
			continue
		}
		path, ok := nsPaths.lookup(id)
		if !ok {
			continue
		}
		ns, err := netns.GetFromPath(path)
		if err != nil {
			nsPaths.forget(id)
			continue
		}
		out[id] = fastOpenServer(ns)
		ns.Close()
	}
	return out
}

// nsPaths remembers where each pod namespace (by id) was found, and the
// namespace's inode then.
var nsPaths = &nsPathCache{m: map[int32]nsPath{}}

type nsPath struct {
	path string
	ino  uint64
}

type nsPathCache struct {
	mu sync.Mutex
	m  map[int32]nsPath
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
