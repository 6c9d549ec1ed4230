// Command requests sends the sample requests of a policy directory
// (samples.yaml) from the demo's network namespaces with real curl, and
// prints what was expected, what was observed and whether the request
// reached the server.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/axon-dev/axon/policy/source"
)

type nsFlag map[netip.Addr]string

func (f nsFlag) String() string { return fmt.Sprint(map[netip.Addr]string(f)) }
func (f nsFlag) Set(s string) error {
	ip, ns, ok := strings.Cut(s, "=")
	a, err := netip.ParseAddr(ip)
	if !ok || err != nil {
		return fmt.Errorf("want IP=NETNS, got %q", s)
	}
	f[a] = ns
	return nil
}

func main() {
	dir := flag.String("policy-dir", "examples/policies", "policy directory with samples.yaml")
	serverLog := flag.String("server-log", "", "request log of the demo server, to show what reached it")
	audit := flag.String("audit", "", "namespace/name of a policy switched to Audit: show only its samples, deny becomes audit_deny")
	hostName := flag.String("host-name", "host", "name shown for requests sent from this host")
	nss := nsFlag{}
	flag.Var(nss, "ns", "IP=NETNS: send requests from IP inside network namespace NETNS (repeatable)")
	flag.Parse()
	if err := run(*dir, *serverLog, *audit, *hostName, nss); err != nil {
		fmt.Fprintln(os.Stderr, "requests:", err)
		os.Exit(1)
	}
}

func run(dir, serverLog, audit, hostName string, nss nsFlag) error {
	set, problems, err := source.Load(dir)
	if err != nil {
		return err
	}
	if err := problems.Err(); err != nil {
		return err
	}
	samples, sp, err := source.LoadSamples(dir)
	if err != nil {
		return err
	}
	if err := sp.Err(); err != nil {
		return err
	}
	fmt.Printf("  %-3s %-7s %-38s %-17s %-9s %-8s %s\n", "#", "from", "request", "expected", "observed", "server", "")
	fmt.Printf("  %s\n", strings.Repeat("-", 94))
	bad, n := 0, 0
	for _, s := range samples {
		expect := s.Expect
		if audit != "" {
			if s.Policy != audit {
				continue
			}
			if expect == source.ExpectDeny {
				expect = source.ExpectAuditDeny
			}
		}
		n++
		src, err := set.ResolveAddr(s.From)
		if err != nil {
			return fmt.Errorf("sample %s: %w", s.Title(), err)
		}
		dst, err := set.ResolveAddrPort(s.To)
		if err != nil {
			return fmt.Errorf("sample %s: %w", s.Title(), err)
		}
		method, target, _ := source.ParseRequest(s.Request)
		ns, ok := nss[src]
		from := s.From
		if !ok {
			from = hostName
		}
		before := logSize(serverLog)
		observed := send(ns, method, fmt.Sprintf("http://%s%s", dst, target))
		reached := "-"
		if serverLog != "" {
			time.Sleep(20 * time.Millisecond)
			reached = "no"
			if grew(serverLog, before, target) {
				reached = "reached"
			}
		}
		want := map[string]string{
			source.ExpectAllow:     "200",
			source.ExpectDeny:      "reset",
			source.ExpectAuditDeny: "200",
		}[expect]
		mark := "ok"
		if observed != want {
			mark = "MISMATCH"
			bad++
		}
		expShown := fmt.Sprintf("%s (%s)", want, expect)
		fmt.Printf("  %-3d %-7s %-38s %-17s %-9s %-8s %s\n", n, from, method+" "+target, expShown, observed, reached, mark)
	}
	fmt.Printf("  %s\n", strings.Repeat("-", 94))
	fmt.Printf("  %d of %d requests as expected\n", n-bad, n)
	if bad > 0 {
		return errors.New("some requests were not decided as the samples expect")
	}
	return nil
}

// send runs curl (inside ns unless empty) and returns the status or "reset".
func send(ns, method, url string) string {
	args := []string{"curl", "-sS", "--max-time", "3", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}"}
	if method == "HEAD" {
		args = append(args, "--head") // -X HEAD would wait for a body
	} else {
		args = append(args, "-X", method)
	}
	args = append(args, url)
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		switch ee.ExitCode() {
		case 52, 56:
			return "reset"
		case 28:
			return "timeout"
		}
		return "curl exit " + strconv.Itoa(ee.ExitCode())
	}
	if err != nil {
		return "error"
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "?"
	}
	return f[len(f)-1]
}

func logSize(p string) int64 {
	if p == "" {
		return 0
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// grew reports whether the server log got a line with target after offset.
func grew(p string, offset int64, target string) bool {
	b, err := os.ReadFile(p)
	if err != nil || int64(len(b)) <= offset {
		return false
	}
	return bytes.Contains(b[offset:], []byte(" "+target+" "))
}
