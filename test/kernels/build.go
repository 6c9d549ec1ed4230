package kernels

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// NetnsHarness is the test package whose users need host tools (ip, curl) in the guest.
const NetnsHarness = "github.com/axon-dev/axon/test/netns"

// ErrNoTests means none of the listed package patterns holds a test.
var ErrNoTests = errors.New("no test packages")

// TestBinary is a static test binary built from one Go package.
type TestBinary struct {
	Name       string // file name without .test, unique: the import path below the module
	Path       string // built binary
	Pkg        string // import path
	Dir        string // package source directory
	Testdata   bool   // the package has a testdata directory to ship with the binary
	NeedsTools bool   // the tests use test/netns, which runs ip and curl
}

type listedPackage struct {
	ImportPath   string
	Dir          string
	Module       *struct{ Path string }
	TestGoFiles  []string
	XTestGoFiles []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

// Imports reports whether the package, its tests or its dependencies import path.
func (p listedPackage) Imports(path string) bool {
	for _, l := range [][]string{p.Deps, p.TestImports, p.XTestImports} {
		for _, d := range l {
			if d == path {
				return true
			}
		}
	}
	return false
}

// ListTestPackages resolves package patterns (run in repo) to the packages that have tests.
// Patterns matching nothing are ignored, so the list can name packages that do not exist yet.
func ListTestPackages(repo string, tags string, patterns []string) ([]listedPackage, error) {
	args := []string{"list", "-e", "-json=ImportPath,Dir,Module,TestGoFiles,XTestGoFiles,Deps,TestImports,XTestImports"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decoding go list output: %w", err)
		}
		if len(p.TestGoFiles)+len(p.XTestGoFiles) > 0 {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%w among %s", ErrNoTests, strings.Join(patterns, " "))
	}
	return pkgs, nil
}

// staticEnv is the environment for building binaries that run without a libc in the VM.
func staticEnv() []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
}

// BuildTests builds one static test binary per package into outDir.
func BuildTests(repo, tags string, pkgs []listedPackage, outDir string) ([]TestBinary, error) {
	var bins []TestBinary
	for _, p := range pkgs {
		name := p.ImportPath
		if p.Module != nil {
			name = strings.TrimPrefix(strings.TrimPrefix(name, p.Module.Path), "/")
		}
		name = strings.ReplaceAll(name, "/", "_")
		out := filepath.Join(outDir, name+".test")
		// Stripped (-s -w): a smaller initramfs boots faster; stack traces still work.
		args := []string{"test", "-c", "-ldflags=-s -w", "-o", out}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		args = append(args, p.ImportPath)
		cmd := exec.Command("go", args...)
		cmd.Dir = repo
		cmd.Env = staticEnv()
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building test binary of %s: %w\n%s", p.ImportPath, err, msg)
		}
		_, statErr := os.Stat(filepath.Join(p.Dir, "testdata"))
		bins = append(bins, TestBinary{
			Name: name, Path: out, Pkg: p.ImportPath, Dir: p.Dir, Testdata: statErr == nil,
			NeedsTools: p.ImportPath == NetnsHarness || p.Imports(NetnsHarness),
		})
	}
	return bins, nil
}

// BuildInit builds the static guest init (test/kernels/guestinit) to out.
func BuildInit(repo, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./test/kernels/guestinit")
	cmd.Dir = repo
	cmd.Env = staticEnv()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building guest init: %w\n%s", err, msg)
	}
	return nil
}
