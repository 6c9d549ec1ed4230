package kernels

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// TestResult is the outcome of one test binary on one kernel.
type TestResult struct {
	Name    string
	Pass    bool
	Seconds float64
	Reason  string
	Failed  []string // names from "--- FAIL:" lines of the binary's output, subtests included
}

// Run is what one kernel reported.
type Run struct {
	Kernel   string // release seen by the guest (uname -r)
	Tests    []TestResult
	Modules  []string // "file ok" or "file error reason"
	Features map[string]string
	Done     bool   // the guest reached AXON-DONE
	Failure  string // why the run as a whole failed (boot, timeout, setup), if it did
}

// Passed reports whether the run completed and every test binary passed.
func (r *Run) Passed() bool {
	if !r.Done || r.Failure != "" || len(r.Tests) == 0 {
		return false
	}
	for _, t := range r.Tests {
		if !t.Pass {
			return false
		}
	}
	return true
}

var (
	testLine    = regexp.MustCompile(`^AXON-TEST (\S+) (PASS|FAIL) ([0-9.]+)s ?(.*)$`)
	featureLine = regexp.MustCompile(`AXON-FEATURE (\S+)=(\S+)`)
	failLine    = regexp.MustCompile(`^\s*--- FAIL: (\S+)`)
)

// ParseOutput reads the guest's console output (or a host run's collected lines).
func ParseOutput(r io.Reader) *Run {
	run := &Run{Features: map[string]string{}}
	var failed []string // "--- FAIL" names since the last AXON-RUN
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := strings.TrimRight(s.Text(), "\r")
		if m := featureLine.FindStringSubmatch(line); m != nil {
			run.Features[m[1]] = m[2]
		}
		switch {
		case strings.HasPrefix(line, "AXON-KERNEL "):
			run.Kernel = strings.TrimPrefix(line, "AXON-KERNEL ")
		case strings.HasPrefix(line, "AXON-MODULE "):
			run.Modules = append(run.Modules, strings.TrimPrefix(line, "AXON-MODULE "))
		case strings.HasPrefix(line, "AXON-SETUP FAIL "):
			run.Failure = "guest setup: " + strings.TrimPrefix(line, "AXON-SETUP FAIL ")
		case strings.HasPrefix(line, "AXON-DONE "):
			run.Done = true
		case strings.HasPrefix(line, "AXON-RUN "):
			failed = nil
		default:
			if m := testLine.FindStringSubmatch(line); m != nil {
				secs, _ := strconv.ParseFloat(m[3], 64)
				run.Tests = append(run.Tests, TestResult{Name: m[1], Pass: m[2] == "PASS", Seconds: secs, Reason: m[4], Failed: failed})
				failed = nil
			} else if m := failLine.FindStringSubmatch(line); m != nil {
				failed = append(failed, m[1])
			}
		}
	}
	return run
}
