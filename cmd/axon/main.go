package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the policy directory has errors, or a test failed
	exitUsage = 2
)

const usage = `usage:
  axon policy compile [--bundle SRC]... DIR    compile DIR (with OPA bundles) and print a summary
  axon policy test [--bundle SRC]... [DIR]     run the Rego tests of DIR and OPA bundles, and DIR's sample requests
  axon policy explain DIR --from SRC --to HOST:PORT "METHOD TARGET"
                                               explain the decision for one request
  axon observe --agent URL... [--verdict V] [--namespace NS] [--pod POD]
               [--policy P] [--path PREFIX] [--type decision|request] [-n N]
                                               tail deny, audit_deny and request events
  axon audit report --agent URL... [--fail-unsafe]
                                               what each Audit-mode policy would deny
  axon top --agent URL... [--interval D]       live decisions and RED per workload
(observe, audit report and top take -o table|json and --color auto|always|never)
(policy commands take the agent's map sizes: --max-path-rows N, --max-source-classes N,
 --max-pod-ips N; a table is refused when it would not load into an agent run with them)
`

// errUsage marks errors for which the usage text is printed.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var code int
	var err error
	switch {
	case len(args) >= 1 && args[0] == "observe":
		code, err = observeCmd(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "audit":
		code, err = auditCmd(ctx, args[1:], stdout)
	case len(args) >= 1 && args[0] == "top":
		code, err = topCmd(ctx, args[1:], stdout)
	case len(args) < 2 || args[0] != "policy":
		fmt.Fprint(stderr, usage)
		return exitUsage
	default:
		code, err = policyCmd(ctx, args[1:], stdout)
	}
	switch {
	case errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "axon:", err)
		}
		fmt.Fprint(stderr, usage)
		return exitUsage
	case err != nil:
		fmt.Fprintln(stderr, "axon:", err)
		return exitFail
	}
	return code
}

// policyCmd runs the policy subcommands.
func policyCmd(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	switch args[0] {
	case "compile":
		return compileCmd(ctx, args[1:], stdout)
	case "test":
		return testCmd(ctx, args[1:], stdout)
	case "explain":
		return explainCmd(ctx, args[1:], stdout)
	}
	return 0, fmt.Errorf("%w: unknown command %q", errUsage, "policy "+args[0])
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// dirArg parses a command's arguments, expecting the policy directory and
// want-1 more positional arguments.
func dirArg(fs *flag.FlagSet, args []string, want int, what string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != want {
		return nil, fmt.Errorf("%w: want %s, got %d arguments", errUsage, what, len(pos))
	}
	return pos, nil
}
