package httppath

import "strings"

// Decoded lists the characters whose percent-escapes the canonical form
// decodes: the printable ASCII characters that a canonical path may also
// hold literally, other than unreserved ones (whose escapes are
// non-canonical), "%", "/", "?", "#" (delimiters), ";" and "\" (written
// escaped, see Check). Servers such as Go's ServeMux, nginx and Python's
// http.server decode every escape before routing, so "/a%40b" and "/a@b"
// reach the same handler and must match the same rules. The datapath tests
// the same set with two 64-bit masks (ax_is_decoded in
// bpf/include/parse_http.h); a test there checks every escape against
// Canonical.
const Decoded = "!\"$&'()*+,:<=>@[]^`{|}"

// IsDecoded reports whether the escape of c is decoded in the canonical form.
func IsDecoded(c byte) bool { return strings.IndexByte(Decoded, c) >= 0 }

// Canonical returns the canonical form of a path: every escape of a
// character of Decoded is replaced by the character, every other escape is
// written with upper-case hex digits ("%3f" -> "%3F", "%c3%a9" ->
// "%C3%A9"); nothing else changes. Rules and requests are compared in this
// form everywhere (docs/semantics.md "Canonical form").
//
// For a path that Check rejects the result is only used for its length, and
// follows the datapath byte for byte: a "%" or "%X" that does not begin a
// valid escape is kept as it is (hex digit upper-cased), and one left
// unfinished at the end of the path is dropped.
func Canonical(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		switch {
		case i+1 >= len(p), i+2 >= len(p) && isHex(p[i+1]):
			return string(b) // unfinished escape at the end: held back, dropped
		case !isHex(p[i+1]):
			b = append(b, '%', p[i+1])
			i++
		case !isHex(p[i+2]):
			b = append(b, '%', upperHex(unhex(p[i+1])), p[i+2])
			i += 2
		default:
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if IsDecoded(d) {
				b = append(b, d)
			} else {
				b = append(b, '%', upperHex(d>>4), upperHex(d&15))
			}
			i += 2
		}
	}
	return string(b)
}

func upperHex(d byte) byte { return "0123456789ABCDEF"[d&15] }
