package netns

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// CurlResult is what one curl run inside a host saw.
type CurlResult struct {
	Status   int           // HTTP status, 0 if no response arrived
	ExitCode int           // curl's exit code: 0 ok, 56 reset by peer, 28 timeout, ...
	Elapsed  time.Duration // wall time of the run
	Output   string        // stdout and stderr
}

// Curl runs `curl -sS --max-time 5 -o /dev/null -w %{http_code} args...`
// inside the host. A missing curl binary is an error; a failed transfer is not.
func (h *Host) Curl(ctx context.Context, args ...string) (CurlResult, error) {
	base := []string{"-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}"}
	start := time.Now()
	out, err := h.Command(ctx, "curl", append(base, args...)...).CombinedOutput()
	res := CurlResult{Elapsed: time.Since(start), Output: string(out)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	case err != nil:
		return res, err
	}
	// -w prints the status last; stderr lines may come before it.
	fields := strings.Fields(res.Output)
	if len(fields) > 0 {
		res.Status, _ = strconv.Atoi(fields[len(fields)-1])
	}
	return res, nil
}
