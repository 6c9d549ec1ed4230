package attach

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netns"
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
