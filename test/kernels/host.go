package kernels

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// RunHost runs the test binaries on the running kernel, each in its package directory as
// go test would, and reports in the same shape as a VM run.
func RunHost(ctx context.Context, bins []TestBinary, testArgs []string, timeout time.Duration, log io.Writer) *Run {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	var lines bytes.Buffer
	fmt.Fprintf(&lines, "AXON-KERNEL %s\n", unix.ByteSliceToString(uts.Release[:]))
	for _, b := range bins {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		cmd := exec.CommandContext(cctx, b.Path, testArgs...)
		cmd.Dir = b.Dir
		cmd.Env = append(os.Environ(), "AXON_KERNEL_VM=")
		var out bytes.Buffer
		w := io.Writer(&out)
		if log != nil {
			w = io.MultiWriter(&out, log)
		}
		cmd.Stdout, cmd.Stderr = w, w
		cmd.WaitDelay = 5 * time.Second
		start := time.Now()
		err := cmd.Run()
		cancel()
		secs := time.Since(start).Seconds()
		// Keep feature and failure lines from the binary's output.
		fmt.Fprintf(&lines, "AXON-RUN %s\n", b.Name)
		for _, l := range bytes.Split(out.Bytes(), []byte("\n")) {
			if featureLine.Match(l) || failLine.Match(l) {
				lines.Write(l)
				lines.WriteByte('\n')
			}
		}
		if err != nil {
			fmt.Fprintf(&lines, "AXON-TEST %s FAIL %.2fs %v\n", b.Name, secs, err)
		} else {
			fmt.Fprintf(&lines, "AXON-TEST %s PASS %.2fs\n", b.Name, secs)
		}
	}
	lines.WriteString("AXON-DONE host\n")
	return ParseOutput(&lines)
}
