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
`

// errUsage marks errors for which the usage text is printed.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "policy" {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var code int
	var err error
	switch args[1] {
	case "compile":
		code, err = compileCmd(ctx, args[2:], stdout)
	case "test":
		code, err = testCmd(ctx, args[2:], stdout)
	case "explain":
		code, err = explainCmd(ctx, args[2:], stdout)
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, "policy "+args[1])
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
