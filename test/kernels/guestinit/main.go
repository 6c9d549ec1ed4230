//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Paths inside the initramfs, written by the kernel matrix runner (test/kernels).
const (
	modulesDir = "/modules"    // NN-name.ko, loaded in lexical order
	testsDir   = "/tests"      // name.test binaries, run in lexical order
	argsFile   = "/tests/args" // one argument a line, passed to every test binary
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guestinit: must run as PID 1 inside the test VM")
		os.Exit(2)
	}
	// Whatever happens, power off: an init that exits panics the kernel, which QEMU
	// (with -no-reboot and panic=-1) also turns into an exit, but a clean power-off is faster.
	defer powerOff()
	if err := setup(); err != nil {
		fmt.Printf("AXON-SETUP FAIL %v\n", err)
		fmt.Println("AXON-DONE pass=0 fail=1")
		return
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	fmt.Printf("AXON-KERNEL %s\n", unix.ByteSliceToString(uts.Release[:]))

	loadModules()
	pass, fail := runTests()
	fmt.Printf("AXON-DONE pass=%d fail=%d\n", pass, fail)
}

type mount struct {
	source, target, fstype string
	optional               bool
}

// setup mounts what the test binaries expect. They are separate processes started after
// this, so cilium/ebpf sees a populated /proc/self/mountinfo when its package init runs.
func setup() error {
	mounts := []mount{
		{"proc", "/proc", "proc", false},
		{"sysfs", "/sys", "sysfs", false},
		{"devtmpfs", "/dev", "devtmpfs", false},
		{"tmpfs", "/run", "tmpfs", false},
		{"tmpfs", "/tmp", "tmpfs", false},
		{"bpf", "/sys/fs/bpf", "bpf", false},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", true},
		{"debugfs", "/sys/kernel/debug", "debugfs", true},
		{"tracefs", "/sys/kernel/tracing", "tracefs", true},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil && !m.optional {
			return fmt.Errorf("creating %s: %w", m.target, err)
		}
		if err := unix.Mount(m.source, m.target, m.fstype, 0, ""); err != nil {
			if m.optional {
				fmt.Printf("AXON-MOUNT %s skipped: %v\n", m.target, err)
				continue
			}
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.target, err)
		}
	}
	// Named network namespaces (ip netns, vishvananda/netns) live under /var/run/netns.
	if err := os.MkdirAll("/var", 0o755); err != nil {
		return fmt.Errorf("creating /var: %w", err)
	}
	if err := os.Symlink("/run", "/var/run"); err != nil && !os.IsExist(err) {
		return fmt.Errorf("linking /var/run: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	// Host tools (ip, curl) sit at their host paths with their libraries; there is no ld.so.cache.
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/tests")
	os.Setenv("LD_LIBRARY_PATH", "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/lib:/usr/lib")
	os.Setenv("HOME", "/tmp")
	os.Setenv("TMPDIR", "/tmp")
	os.Setenv("AXON_KERNEL_VM", "1")
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// loadModules loads every module in modulesDir; a failure is reported, and the tests that
// need the module will fail on their own.
func loadModules() {
	names, _ := filepath.Glob(filepath.Join(modulesDir, "*.ko"))
	sort.Strings(names)
	for _, name := range names {
		err := finitModule(name)
		status := "ok"
		if err != nil {
			status = "error " + err.Error()
		}
		fmt.Printf("AXON-MODULE %s %s\n", filepath.Base(name), status)
	}
}

func finitModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if err == unix.EEXIST {
		return nil
	}
	return err
}

func runTests() (pass, fail int) {
	args := readArgs()
	names, _ := filepath.Glob(filepath.Join(testsDir, "*.test"))
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Println("AXON-TEST none FAIL no test binaries in the initramfs")
		return 0, 1
	}
	for _, bin := range names {
		name := strings.TrimSuffix(filepath.Base(bin), ".test")
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		// A package's testdata, if any, sits next to its binary: run there like go test does.
		cmd.Dir = "/"
		if st, err := os.Stat(bin + ".dir"); err == nil && st.IsDir() {
			cmd.Dir = bin + ".dir"
		}
		fmt.Printf("AXON-RUN %s\n", name)
		start := time.Now()
		err := cmd.Run()
		secs := time.Since(start).Seconds()
		if err != nil {
			fail++
			fmt.Printf("AXON-TEST %s FAIL %.2fs %v\n", name, secs, err)
			continue
		}
		pass++
		fmt.Printf("AXON-TEST %s PASS %.2fs\n", name, secs)
	}
	return pass, fail
}

func readArgs() []string {
	f, err := os.Open(argsFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	var args []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" {
			args = append(args, line)
		}
	}
	return args
}

func powerOff() {
	os.Stdout.Sync()
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Reboot only returns on failure; sleeping keeps PID 1 alive until QEMU's timeout.
	time.Sleep(time.Hour)
}
