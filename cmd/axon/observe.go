package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/axon-dev/axon/agent/stream"
)

// observeCmd tails the event streams of one or more agents:
//
//	axon observe --agent URL [--agent URL...] [--verdict V] [--namespace NS]
//	    [--pod POD] [--policy P] [--path PREFIX] [--type decision|request]
//	    [-n COUNT] [-o table|json] [--color auto|always|never]
func observeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("axon observe", flag.ContinueOnError)
	var agents agentList
	var verdicts, namespaces, pods, policies, paths, types []string
	fs.Var(&agents, "agent", "agent URL (host:port of its --metrics-addr); repeatable")
	fs.Func("verdict", "deny or audit_deny; repeatable", func(v string) error { verdicts = append(verdicts, v); return nil })
	fs.Func("namespace", "source, destination or policy namespace; repeatable", func(v string) error { namespaces = append(namespaces, v); return nil })
	fs.Func("pod", "source or destination pod name or IP; repeatable", func(v string) error { pods = append(pods, v); return nil })
	fs.Func("policy", "policy name; repeatable", func(v string) error { policies = append(policies, v); return nil })
	fs.Func("path", "path prefix; repeatable", func(v string) error { paths = append(paths, v); return nil })
	fs.Func("type", "decision (deny, audit_deny) or request (observed with an HTTPMonitor); repeatable", func(v string) error { types = append(types, v); return nil })
	count := fs.Int("n", 0, "exit after this many events (0: follow until interrupted)")
	var out outputFlags
	out.register(fs)
	if pos, err := parseArgs(fs, args); err != nil {
		return 0, err
	} else if len(pos) > 0 {
		return 0, fmt.Errorf("%w: observe takes no arguments", errUsage)
	}
	if err := out.check(); err != nil {
		return 0, err
	}
	urls, err := agentsOf(ctx, agents)
	if err != nil {
		return 0, err
	}
	q := url.Values{}
	for k, vs := range map[string][]string{"verdict": verdicts, "namespace": namespaces, "pod": pods,
		"policy": policies, "path": paths, "type": types} {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan agentEvent, 256)
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Go(func() { follow(ctx, u, q, lines, stderr) })
	}
	go func() { wg.Wait(); close(lines) }()

	p := eventPrinter{w: stdout, json: out.format == "json", color: out.colors(stdout), many: len(urls) > 1}
	p.header()
	n := 0
	for e := range lines {
		p.print(e)
		if e.Type != stream.TypeLost {
			n++
		}
		if *count > 0 && n >= *count {
			break
		}
	}
	return exitOK, nil
}

// agentEvent is an event and the agent it came from.
type agentEvent struct {
	stream.Event
	Agent string `json:"agent"`
}

// follow reads one agent's stream into out until ctx ends, reconnecting
// after a second when the connection fails.
func follow(ctx context.Context, base string, q url.Values, out chan<- agentEvent, stderr io.Writer) {
	for ctx.Err() == nil {
		err := followOnce(ctx, base, q, out)
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(stderr, "axon: %s: %v; reconnecting\n", base, err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func followOnce(ctx context.Context, base string, q url.Values, out chan<- agentEvent) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e stream.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("bad event line: %w", err)
		}
		select {
		case out <- agentEvent{Event: e, Agent: base}:
		case <-ctx.Done():
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("stream ended")
}

// eventPrinter prints events as a table (like hubble observe) or as JSON.
type eventPrinter struct {
	w     io.Writer
	json  bool
	color bool
	many  bool // several agents: name the agent of lost events
}

const eventRow = "%-12s  %-28s  %-28s  %-10s  %-7s  %-32s  %s\n"

func (p *eventPrinter) header() {
	if !p.json {
		fmt.Fprintf(p.w, eventRow, "TIME", "SOURCE", "DESTINATION", "VERDICT", "METHOD", "PATH", "POLICY / INFO")
	}
}

func (p *eventPrinter) print(e agentEvent) {
	if p.json {
		b, _ := json.Marshal(e)
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	ts := e.Time.Local().Format("15:04:05.000")
	if e.Type == stream.TypeLost {
		fmt.Fprintln(p.w, paint(p.color, cDim, fmt.Sprintf("%s  -- %d events missed (this reader was too slow) from %s --", ts, e.Missed, e.Agent)))
		return
	}
	verdict, info, c := "", "", ""
	switch e.Type {
	case stream.TypeDecision:
		verdict = strings.ToUpper(e.Verdict)
		c = cRed
		if e.Verdict == "audit_deny" {
			c = cYellow
		}
		info = fmt.Sprintf("%s/%s rule %s", e.Namespace, e.Policy, e.Rule)
		if e.Policy == "" {
			info = "no rule"
		}
		if e.Mode != "" {
			info += " (" + e.Mode + ")"
		}
		if e.Reason != "" && e.Reason != "policy" {
			info += " " + e.Reason
		}
	case stream.TypeRequest:
		verdict = fmt.Sprint(e.Status)
		c = cGreen
		if e.Status >= 500 {
			c = cRed
		} else if e.Status >= 400 {
			c = cYellow
		}
		info = fmt.Sprintf("%v %s", time.Duration(e.LatencyMs*float64(time.Millisecond)).Round(time.Microsecond), e.Side)
	}
	fmt.Fprintf(p.w, eventRow, ts, peerName(e.Source, false), peerName(e.Destination, true), paint(p.color, c, fmt.Sprintf("%-10s", verdict)),
		e.Method, clip(e.Path, 32), info)
}

// peerName is namespace/pod, or the IP, with the port if asked.
func peerName(p *stream.Peer, port bool) string {
	if p == nil {
		return "-"
	}
	name := p.IP
	if p.Pod != "" {
		name = p.Namespace + "/" + p.Pod
	}
	if port && p.Port != 0 {
		name += fmt.Sprintf(":%d", p.Port)
	}
	return clip(name, 28)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
