package bundle

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

var defaultClient = &http.Client{Timeout: time.Minute}

// HTTPSource is an OPA bundle service: GET URL returns a bundle tarball
// with an ETag, and a GET with If-None-Match of that ETag returns 304 Not
// Modified while the bundle is unchanged (OPA's bundle download protocol,
// without long polling).
type HTTPSource struct {
	URL string
	// Client is the HTTP client (nil: one with a one-minute timeout, so
	// that a server that hangs cannot stop the polling).
	Client *http.Client
	etag   string
}

// Fetch downloads the bundle when it changed since the last successful
// Fetch: nil, nil means 304 Not Modified. A bundle that does not read is an
// error, and the ETag is not remembered, so the next Fetch downloads again.
func (h *HTTPSource) Fetch(ctx context.Context) (*Bundle, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching bundle: %w", err)
	}
	if h.etag != "" {
		req.Header.Set("If-None-Match", h.etag)
	}
	req.Header.Set("Accept", "application/gzip, application/octet-stream")
	c := h.Client
	if c == nil {
		c = defaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching bundle: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, nil
	case http.StatusOK:
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return nil, fmt.Errorf("fetching bundle %s: %s: %s", h.URL, resp.Status, strings.TrimSpace(string(msg)))
	}
	b, err := Read(h.URL, io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return nil, err
	}
	h.etag = resp.Header.Get("ETag")
	return b, nil
}

// forget drops the remembered ETag: the next Fetch downloads the bundle.
func (h *HTTPSource) forget() { h.etag = "" }
