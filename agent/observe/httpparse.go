package observe

import (
	"bytes"
	"strconv"
)

// head is one HTTP/1.x message start found in a captured buffer.
type head struct {
	method string // requests
	path   string // requests: the target without query or fragment
	status int    // responses
	clen   int64  // Content-Length, -1 if absent or unusable
	// next is the offset of the message after this one in the buffer
	// (after its head and Content-Length body), or -1 when unknown
	// (head not complete in the capture, chunked or unknown-length body).
	next int
}

var (
	crlf2  = []byte("\r\n\r\n")
	http1  = []byte("HTTP/1.")
	clName = []byte("content-length")
	teName = []byte("transfer-encoding")
)

// maxPath bounds the path kept from a request target.
const maxPath = 256

// parseRequest parses the request that starts at b[0]. ok is false when b
// does not start with a request line (method SP target SP HTTP/1.x).
func parseRequest(b []byte) (h head, ok bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 1 || sp > 16 {
		return h, false
	}
	for _, c := range b[:sp] {
		if c < 'A' || c > 'Z' {
			return h, false
		}
	}
	h.method = methodString(b[:sp])
	rest := b[sp+1:]
	end := bytes.IndexByte(rest, ' ')
	if end < 1 {
		// The request line does not fit in the capture: keep what there is
		// of the target when it is long, else this is no request.
		if len(rest) < maxPath {
			return h, false
		}
		end = len(rest)
	}
	target := rest[:end]
	if end < len(rest) && !bytes.HasPrefix(rest[end+1:], http1) && len(rest[end+1:]) >= len(http1) {
		return h, false
	}
	h.path = targetPath(target)
	h.clen, h.next = headerEnd(b, true, false)
	return h, true
}

// methodString is m as a string, without allocating for HTTP's standard
// methods.
func methodString(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "HEAD":
		return "HEAD"
	case "PATCH":
		return "PATCH"
	case "OPTIONS":
		return "OPTIONS"
	}
	return string(m)
}

// targetPath returns the path of a request target: origin-form as is,
// absolute-form without scheme and authority, query and fragment removed.
func targetPath(t []byte) string {
	if i := bytes.Index(t, []byte("://")); i > 0 && t[0] != '/' {
		t = t[i+3:]
		if j := bytes.IndexByte(t, '/'); j >= 0 {
			t = t[j:]
		} else {
			t = []byte("/")
		}
	}
	if i := bytes.IndexAny(t, "?#"); i >= 0 {
		t = t[:i]
	}
	if len(t) > maxPath {
		t = t[:maxPath]
	}
	return string(t)
}

// parseResponse parses the response that starts at b[0]; noBody says the
// request was HEAD (no body whatever the headers say).
func parseResponse(b []byte, noBody bool) (h head, ok bool) {
	if len(b) < 12 || !bytes.HasPrefix(b, http1) || b[8] != ' ' {
		return h, false
	}
	code, err := strconv.Atoi(string(b[9:12]))
	if err != nil || code < 100 || code > 999 {
		return h, false
	}
	h.status = code
	body := !noBody && code >= 200 && code != 204 && code != 304
	h.clen, h.next = headerEnd(b, body, true)
	return h, true
}

// headerEnd finds Content-Length and the end of the head (its first empty
// line) in one pass over the lines; next is where the following message
// starts, or -1 if unknown. A body without a length (chunked;
// close-delimited responses) makes next unknown.
func headerEnd(b []byte, body, resp bool) (clen int64, next int) {
	clen = -1
	end := -1
	chunked := false
	for off := 0; off < len(b); {
		i := indexCRLF(b[off:])
		var line []byte
		if i < 0 {
			line = b[off:]
		} else {
			line = b[off : off+i]
		}
		if len(line) == 0 && off > 0 {
			end = off - 2 // the "\r\n\r\n" that ends the head
			break
		}
		if mayNameLength(line) {
			if colon := bytes.IndexByte(line, ':'); colon >= 0 {
				name := bytes.TrimSpace(line[:colon])
				switch {
				case asciiEqualFold(name, clName):
					if n, err := strconv.ParseInt(string(bytes.TrimSpace(line[colon+1:])), 10, 64); err == nil && n >= 0 {
						clen = n
					}
				case asciiEqualFold(name, teName):
					chunked = true
				}
			}
		}
		if i < 0 {
			break
		}
		off += i + 2
	}
	return clen, messageEnd(end, clen, chunked, body, resp)
}

// indexCRLF is bytes.Index(b, []byte("\r\n")), by the faster search for '\n'.
func indexCRLF(b []byte) int {
	for off := 0; ; {
		j := bytes.IndexByte(b[off:], '\n')
		if j < 0 {
			return -1
		}
		if j += off; j > 0 && b[j-1] == '\r' {
			return j - 1
		}
		off = j + 1
	}
}

// mayNameLength reports whether header line may name Content-Length or
// Transfer-Encoding: false only when its first byte is an ASCII letter
// other than their first letters (TrimSpace would keep it, so the name
// cannot match). Most lines are skipped without looking for their colon.
func mayNameLength(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	c := line[0] | 0x20 // ASCII letters to lower case
	return c == 'c' || c == 't' || c < 'a' || c > 'z'
}

// messageEnd is where the next message starts after a head whose
// "\r\n\r\n" is at end (-1: not seen), given its Content-Length (-1:
// none) and whether it is chunked, has a body and is a response; -1 when
// unknown.
func messageEnd(end int, clen int64, chunked, body, resp bool) int {
	if end < 0 {
		return -1
	}
	next := end + 4
	if body {
		switch {
		case chunked:
			return -1
		case clen > 0:
			next += int(clen)
		case clen < 0 && resp:
			return -1 // ends when the connection closes
		}
	}
	return next
}

// asciiEqualFold reports whether name equals lower, a lower-case ASCII
// header name, ignoring ASCII case only.
func asciiEqualFold(name, lower []byte) bool {
	if len(name) != len(lower) {
		return false
	}
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
