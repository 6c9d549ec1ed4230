package kernels

import (
	"reflect"
	"strings"
	"testing"
)

// A console transcript as the guest prints it, with kernel noise and test output around
// the protocol lines.
const transcript = `[    0.000000] Linux version 6.1.0-56-cloud-amd64
AXON-KERNEL 6.1.0-56-cloud-amd64
AXON-MODULE 00-sch_ingress.ko ok
AXON-MODULE 01-cls_bpf.ko error exec format error
AXON-RUN test_kernels_probe
=== RUN   TestFeatures
AXON-FEATURE attach_tcx=no
    probe_test.go:12: AXON-FEATURE helper_loop=yes
--- PASS: TestFeatures (0.01s)
AXON-TEST test_kernels_probe PASS 0.75s
AXON-RUN agent_datapath
--- FAIL: TestNetnsEndToEndEgress (15.37s)
    --- FAIL: TestNetnsEndToEndEgress/curl_denied (1.46s)
AXON-TEST agent_datapath FAIL 1.50s exit status 1
AXON-DONE pass=1 fail=1
[    2.654854] reboot: Power down
`

func TestParseOutput(t *testing.T) {
	r := ParseOutput(strings.NewReader(transcript))
	if r.Kernel != "6.1.0-56-cloud-amd64" {
		t.Errorf("kernel = %q", r.Kernel)
	}
	if !r.Done {
		t.Error("AXON-DONE not seen")
	}
	if len(r.Modules) != 2 || r.Modules[1] != "01-cls_bpf.ko error exec format error" {
		t.Errorf("modules = %q", r.Modules)
	}
	if r.Features["attach_tcx"] != "no" || r.Features["helper_loop"] != "yes" {
		t.Errorf("features = %v", r.Features)
	}
	want := []TestResult{
		{Name: "test_kernels_probe", Pass: true, Seconds: 0.75},
		{Name: "agent_datapath", Pass: false, Seconds: 1.5, Reason: "exit status 1",
			Failed: []string{"TestNetnsEndToEndEgress", "TestNetnsEndToEndEgress/curl_denied"}},
	}
	if !reflect.DeepEqual(r.Tests, want) {
		t.Errorf("tests = %+v\nwant    %+v", r.Tests, want)
	}
	if r.Passed() {
		t.Error("a run with a failing binary passed")
	}
}

func TestRunWithoutDoneFails(t *testing.T) {
	r := ParseOutput(strings.NewReader("AXON-KERNEL 5.10.0\nAXON-TEST x PASS 1.0s\nKernel panic - not syncing\n"))
	if r.Passed() {
		t.Error("a run that never reached AXON-DONE passed")
	}
	all := ParseOutput(strings.NewReader("AXON-TEST x PASS 1.0s\nAXON-DONE pass=1 fail=0\n"))
	if !all.Passed() {
		t.Errorf("a complete passing run failed: %+v", all)
	}
}
