package evasion

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// agentBin and axonBin are the axon-agent and axon binaries built once for
// the whole package; pythonBin the real Python interpreter ("" when there
// is none).
var agentBin, axonBin, pythonBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every netns test skips with "needs root"; nothing to build.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "axon-evasion-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin, axonBin = filepath.Join(dir, "axon-agent"), filepath.Join(dir, "axon")
	cmd := exec.Command("go", "build", "-o", dir, "github.com/axon-dev/axon/cmd/axon-agent", "github.com/axon-dev/axon/cmd/axon")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building axon-agent and axon:", err)
		return 1
	}
	// pyenv shims need the caller's environment; resolve the interpreter
	// once so it runs under `ip netns exec` too.
	if out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output(); err == nil {
		pythonBin = strings.TrimSpace(string(out))
	}
	return m.Run()
}
