package kernels

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// ErrTimeout means the VM did not power off in time.
var ErrTimeout = errors.New("vm timed out")

// VMConfig describes one QEMU boot.
type VMConfig struct {
	Kernel    string        // vmlinuz
	Initramfs string        // cpio archive
	MemoryMB  int           // guest memory
	CPUs      int           // guest vCPUs
	Timeout   time.Duration // the VM is killed after this
	Log       io.Writer     // receives the serial console, may be nil
}

// qemuArgs builds the command line: TCG (nested KVM does not work on the hosts we run on),
// no devices but the serial console, and a kernel that exits QEMU on panic.
func qemuArgs(cfg VMConfig) []string {
	return []string{
		"-accel", "tcg", "-cpu", cpuModel(),
		"-m", fmt.Sprint(cfg.MemoryMB), "-smp", fmt.Sprint(cfg.CPUs),
		"-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio",
		"-kernel", cfg.Kernel, "-initrd", cfg.Initramfs,
		// random.trust_cpu: seed the CRNG from RDRAND so getrandom does not block early on 5.10.
		"-append", "console=ttyS0 rdinit=/init panic=-1 oops=panic quiet loglevel=3 random.trust_cpu=on",
	}
}

// Boot runs one VM to completion and parses its console.
func Boot(ctx context.Context, cfg VMConfig) (*Run, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", qemuArgs(cfg)...)
	var console bytes.Buffer
	var out io.Writer = &console
	if cfg.Log != nil {
		out = io.MultiWriter(&console, cfg.Log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	run := ParseOutput(bytes.NewReader(console.Bytes()))
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		run.Failure = fmt.Sprintf("no power-off within %s", cfg.Timeout)
		return run, ErrTimeout
	case err != nil:
		run.Failure = fmt.Sprintf("qemu: %v", err)
		return run, fmt.Errorf("running qemu: %w", err)
	case !run.Done && run.Failure == "":
		run.Failure = "guest stopped before AXON-DONE (kernel panic or crash?)"
	}
	return run, nil
}

// HaveQEMU reports whether qemu-system-x86_64 is on PATH.
func HaveQEMU() bool {
	_, err := exec.LookPath("qemu-system-x86_64")
	return err == nil
}

// KernelDir is one cached kernel (see scripts/kernels/fetch.sh).
type KernelDir struct {
	Series string // 5.10, 6.1, 6.12
	Dir    string
}

// Vmlinuz, Modules and Release locate the parts of a cached kernel.
func (k KernelDir) Vmlinuz() string { return k.Dir + "/vmlinuz" }
func (k KernelDir) Modules() string { return k.Dir + "/modules" }
func (k KernelDir) Release() string {
	b, _ := os.ReadFile(k.Dir + "/kver")
	return string(bytes.TrimSpace(b))
}

// Complete reports whether fetch.sh finished caching this kernel.
func (k KernelDir) Complete() bool {
	_, err := os.Stat(k.Dir + "/.complete")
	return err == nil
}

// cpuModel is the emulated CPU; AXON_KERNEL_CPU overrides it for experiments.
func cpuModel() string {
	if m := os.Getenv("AXON_KERNEL_CPU"); m != "" {
		return m
	}
	return "max"
}
