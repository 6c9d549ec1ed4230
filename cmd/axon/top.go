package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"
)

// topCmd runs `axon top`: a live view of decisions, RED per workload and
// the most denied routes, redrawn in place every interval from the agents'
// /metrics. -o json prints one JSON frame per interval instead.
func topCmd(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet("axon top", flag.ContinueOnError)
	var agents agentList
	fs.Var(&agents, "agent", "agent URL (host:port of its --metrics-addr); repeatable")
	interval := fs.Duration("interval", 2*time.Second, "refresh period")
	iterations := fs.Int("iterations", 0, "exit after this many refreshes (0: until q or Ctrl-C)")
	rows := fs.Int("rows", 10, "rows per section")
	var out outputFlags
	out.register(fs)
	if pos, err := parseArgs(fs, args); err != nil {
		return 0, err
	} else if len(pos) > 0 {
		return 0, fmt.Errorf("%w: top takes no arguments", errUsage)
	}
	if err := out.check(); err != nil {
		return 0, err
	}
	if *interval < 100*time.Millisecond {
		return 0, fmt.Errorf("%w: --interval below 100ms", errUsage)
	}
	urls, err := agentsOf(ctx, agents)
	if err != nil {
		return 0, err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	live := out.format == "table" && isTerminal(stdout)
	if live {
		restore := rawKeys(ctx, stop)
		defer restore()
		fmt.Fprint(stdout, "\x1b[?25l")       // hide the cursor
		defer fmt.Fprint(stdout, "\x1b[?25h") // and show it again
	}
	color := out.colors(stdout)
	var prev *topSample
	t := time.NewTicker(*interval)
	defer t.Stop()
	for i := 0; *iterations == 0 || i < *iterations; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return exitOK, nil
			case <-t.C:
			}
		}
		cur, errs := sampleAgents(ctx, urls)
		f := frameOf(prev, cur, *rows)
		f.Errors = errs
		prev = cur
		if out.format == "json" {
			b, _ := json.Marshal(f)
			fmt.Fprintf(stdout, "%s\n", b)
			continue
		}
		text := renderTop(f, len(urls), *interval, color)
		if live {
			// Home, draw, clear what the last frame left below.
			fmt.Fprint(stdout, "\x1b[H"+strings.ReplaceAll(text, "\n", "\x1b[K\r\n")+"\x1b[J")
		} else {
			fmt.Fprint(stdout, text+"\n")
		}
	}
	return exitOK, nil
}

// rawKeys puts the terminal on stdin in raw mode and calls quit on q or
// Ctrl-C; it returns the function that restores the terminal.
func rawKeys(ctx context.Context, quit func()) func() {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return func() {}
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		return func() {}
	}
	go func() {
		b := make([]byte, 1)
		for ctx.Err() == nil {
			if n, err := os.Stdin.Read(b); err != nil {
				return
			} else if n == 1 && (b[0] == 'q' || b[0] == 3) {
				quit()
				return
			}
		}
	}()
	return func() { _ = term.Restore(fd, old) }
}

func sampleAgents(ctx context.Context, urls []string) (*topSample, []string) {
	s := newTopSample()
	var errs []string
	for _, u := range urls {
		b, err := getAgent(ctx, u, "/metrics")
		if err == nil {
			err = s.add(b)
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	return s, errs
}
