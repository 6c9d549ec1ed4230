package observe

import (
	"testing"

	"github.com/axon-dev/axon/test/netns"
)

// kernelHooks are the sets of hooks this kernel can run, best first: the
// tcp hooks where it loads and attaches tracing programs on functions, the
// socket hooks on Linux 6.3+, the syscall hooks everywhere.
func kernelHooks(t testing.TB) []Hooks {
	var hooks []Hooks
	if p, err := loadTCP(); err == nil {
		p.Close()
		hooks = append(hooks, HooksTCP)
	} else {
		t.Logf("the tcp hooks do not run on this kernel: %v", err)
	}
	if socketHooksAvailable() {
		hooks = append(hooks, HooksSocket)
	} else {
		t.Log("this kernel has no sock_recv_length/sock_send_length tracepoints (Linux 6.3+)")
	}
	return append(hooks, HooksSyscall)
}

// TestLoadAndAttach loads the observer on every set of hooks the kernel
// has (the verifier accepts every program) and attaches it; HooksAuto picks
// the best of them and, when that is not the tcp hooks, says why; a kernel
// without the socket tracepoints refuses the socket hooks with an error.
func TestLoadAndAttach(t *testing.T) {
	netns.RequireRoot(t)
	for _, h := range kernelHooks(t) {
		t.Run(string(h), func(t *testing.T) {
			p, err := Load(h)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Attach(); err != nil {
				t.Fatal(err)
			}
			if !p.Attached() || p.Hooks() != h {
				t.Fatalf("attached %v, hooks %q", p.Attached(), p.Hooks())
			}
		})
	}
	p, err := Load(HooksAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if want := kernelHooks(t)[0]; p.Hooks() != want {
		t.Errorf("auto picked %q, want %q", p.Hooks(), want)
	}
	if (p.Hooks() == HooksTCP) != (p.Fallback() == nil) {
		t.Errorf("auto picked %q and gave %v as the reason it did not pick the tcp hooks", p.Hooks(), p.Fallback())
	}
	if !socketHooksAvailable() {
		if q, err := Load(HooksSocket); err == nil {
			q.Close()
			t.Error("the socket hooks loaded on a kernel without their tracepoints")
		}
	}
}

// TestParseHooks checks the agent flag's values.
func TestParseHooks(t *testing.T) {
	for in, want := range map[string]Hooks{"auto": HooksAuto, "tcp": HooksTCP, "socket": HooksSocket, "syscall": HooksSyscall} {
		if got, err := ParseHooks(in); err != nil || got != want {
			t.Errorf("ParseHooks(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "kprobe", "Socket"} {
		if _, err := ParseHooks(in); err == nil {
			t.Errorf("ParseHooks(%q) accepted", in)
		}
	}
}
