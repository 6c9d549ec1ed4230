/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Incremental HTTP/1.x request parser: one byte at a time, all state in the
 * flow, so a request may be split anywhere across segments. ax_parse stops
 * when a request's method and target are known (the caller decides it), at the end of the
 * payload, after AX_PARSE_STEP bytes, or on bytes it cannot accept. */
#ifndef AX_PARSE_HTTP_H
#define AX_PARSE_HTTP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "axon_shared.h"
#include "flow_state.h"

enum ax_parse_result {
	AX_P_CONT = 0,	   /* (internal) keep going */
	AX_P_DONE = 1,	   /* payload consumed */
	AX_P_DECIDE = 2,   /* method and target are known: decide */
	AX_P_MORE = 3,	   /* step budget used: call again */
	AX_P_NOT_HTTP = 4, /* not an HTTP/1.x request */
	AX_P_MALFORMED = 5,
	AX_P_UPGRADE = 6, /* an Upgrade other than "websocket", or one out of place */
	AX_P_DENIED = 7,  /* (ax_parse_rounds) a request was denied */
	AX_P_AGAIN = 8,	  /* (internal) decide again before this byte */
};

/* Request-line sub-states. */
enum {
	AX_R_START,
	AX_R_METHOD,
	AX_R_SP1,
	AX_R_TARGET,
	AX_R_SP2,
	AX_R_VERSION,
	AX_R_CR,
	AX_R_START_CR, /* CR of a leading empty line */
};
/* Request-target sub-states. */
enum { AX_T_FIRST, AX_T_ABS, AX_T_HOST, AX_T_PATH, AX_T_QUERY };
/* Header-line sub-states (also used by trailers). */
enum {
	AX_H_START,
	AX_H_EMPTY_CR, /* trailers: CR of the empty line */
	AX_H_NAME,
	AX_H_VALUE,
	AX_H_CL,
	AX_H_TE,
	AX_H_UPG,     /* Upgrade value */
	AX_H_LINE_CR, /* trailers: CR ending a field line */
};
/* Chunk-size sub-states. */
enum { AX_C_DIG, AX_C_EXT, AX_C_CR, AX_C_BWS };

/* te_pos while parsing a Transfer-Encoding or Upgrade value: the low bits
 * count the bytes of the current token matched against "chunked" or
 * "websocket" (AX_TOK_NO: it is something else). */
#define AX_TOK_POS     0x0f
#define AX_TOK_NO      0x0f
#define AX_TOK_STARTED 0x10 /* the current list element has a byte */
#define AX_TOK_ENDED   0x20 /* whitespace after it */

/* Packed ASCII strings: byte i of the constant is character i. */
#define AX_S_HTTP1    0x2e312f50545448ULL   /* "HTTP/1." */
#define AX_S_CONTENT  0x2d746e65746e6f63ULL /* "content-" */
#define AX_S_LENGTH   0x6874676e656cULL	    /* "length" */
#define AX_S_TRANSFER 0x726566736e617274ULL /* "transfer" */
#define AX_S_ENCODIN  0x6e69646f636e652dULL /* "-encodin" */
#define AX_S_CHUNKED  0x64656b6e756863ULL   /* "chunked" */
#define AX_S_HTTP     0x2f2f3a70747468ULL   /* "http://" */
#define AX_S_UPGRADE  0x65646172677075ULL   /* "upgrade" */
#define AX_S_WEBSOCKE 0x656b636f73626577ULL /* "websocke" */
#define AX_S_CONNECT  0x5443454e4e4f43ULL   /* "CONNECT" */

static __always_inline __u8 ax_chr(__u64 s, __u32 i)
{
	return (s >> ((i & 7) * 8)) & 0xff;
}

/* A byte of an absolute-form authority other than '@' and ':' (RFC 3986:
 * unreserved, sub-delims, '[', ']' and '%'). */
static __always_inline int ax_is_authchar(__u8 c)
{
	if (c >= 128)
		return 0;
	__u64 m = c < 64 ? 0x2bff7ff200000000ULL : 0x47fffffeaffffffeULL;
	return (m >> (c & 63)) & 1;
}

/* RFC 9110 tchar. */
static __always_inline int ax_is_tchar(__u8 c)
{
	if (c >= 128)
		return 0;
	__u64 m = c < 64 ? 0x3ff6cfa00000000ULL : 0x57ffffffc7fffffeULL;
	return (m >> (c & 63)) & 1;
}

/* Unreserved characters, '/' and '\': escapes of these are non-canonical. */
static __always_inline int ax_is_unescaped_only(__u8 c)
{
	if (c >= 128)
		return 0;
	__u64 m = c < 64 ? 0x3ffe00000000000ULL : 0x47fffffe97fffffeULL;
	return (m >> (c & 63)) & 1;
}

/* Letters, digits, '-', '_', '~': path bytes no canonical-path rule is
 * about. */
static __always_inline int ax_is_plain(__u8 c)
{
	if (c >= 128)
		return 0;
	__u64 m = c < 64 ? 0x3ff200000000000ULL : 0x47fffffe87fffffeULL;
	return (m >> (c & 63)) & 1;
}

static __always_inline int ax_hex(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Printable ASCII characters a canonical path may hold literally, other than
 * unreserved ones, '%', '/', '?', '#', ';' and '\': an escape of one of
 * them is decoded (docs/semantics.md "Canonical form"; httppath.Decoded). */
static __always_inline int ax_is_decoded(__u8 c)
{
	if (c >= 128)
		return 0;
	__u64 m = c < 64 ? 0x74001fd600000000ULL : 0x3800000168000001ULL;
	return (m >> (c & 63)) & 1;
}

static __always_inline __u8 ax_hex_upper(__u8 d)
{
	d &= 15;
	return d < 10 ? '0' + d : 'A' + d - 10;
}

/* ax_path_put appends one byte of the canonical path. */
static __always_inline void ax_path_put(struct ax_flow *f, __u8 c)
{
	__u16 n = f->path_len;
	f->h2 = f->h1;
	f->h1 = f->h0;
	f->h0 = c;
	if (n < AX_PATH_BUF)
		f->path[ax_mask(n, AX_PATH_BUF - 1)] = c;
	if (n >= AX_PATH_LIMIT)
		f->flags |= AX_RF_TOOLONG;
	else
		f->path_len = n + 1;
}

/* ax_path_byte takes one byte of the path as sent, applies the streaming
 * checks of docs/semantics.md "Non-canonical paths" and appends the
 * canonical form: an escape is held back until it is complete, then either
 * decoded (ax_is_decoded) or appended with upper-case hex digits. */
static __always_inline void ax_path_byte(struct ax_flow *f, __u8 c)
{
	__u16 n = f->path_len;
	if (n == 0 && c != '/' && c != '*')
		f->flags |= AX_RF_NONCANON;
	if (n >= 1 && (f->flags & AX_RF_STAR))
		f->flags |= AX_RF_NONCANON;
	if (c < 0x21 || c >= 0x7f || c == '\\' || c == ';')
		f->flags |= AX_RF_NONCANON;
	if (f->pct == 1) {
		int h = ax_hex(c);
		if (h >= 0) {
			f->pct_hi = h;
			f->pct = 2;
			return;
		}
		f->flags |= AX_RF_NONCANON;
		f->pct = 0;
		ax_path_put(f, '%');
	} else if (f->pct == 2) {
		int h = ax_hex(c);
		__u8 hi = f->pct_hi;
		f->pct = 0;
		if (h < 0) {
			f->flags |= AX_RF_NONCANON;
			ax_path_put(f, '%');
			ax_path_put(f, ax_hex_upper(hi));
		} else {
			__u8 d = (hi << 4) | h;
			if (ax_is_unescaped_only(d))
				f->flags |= AX_RF_NONCANON;
			if (ax_is_decoded(d)) {
				ax_path_put(f, d);
				return;
			}
			ax_path_put(f, '%');
			ax_path_put(f, ax_hex_upper(hi));
			ax_path_put(f, ax_hex_upper(h));
			return;
		}
	} else if (c == '%') {
		f->pct = 1;
		return;
	}
	if (c == '/') {
		if (f->h0 == '/')
			f->flags |= AX_RF_NONCANON;
		if (f->h0 == '.' && f->h1 == '/')
			f->flags |= AX_RF_NONCANON;
		if (f->h0 == '.' && f->h1 == '.' && f->h2 == '/')
			f->flags |= AX_RF_NONCANON;
	}
	ax_path_put(f, c);
}

/* ax_path_end applies the checks that need the end of the path. */
static __always_inline void ax_path_end(struct ax_flow *f)
{
	if (f->path_len == 0 || f->pct != 0)
		f->flags |= AX_RF_NONCANON;
	if (f->h0 == '.' && f->h1 == '/')
		f->flags |= AX_RF_NONCANON;
	if (f->h0 == '.' && f->h1 == '.' && f->h2 == '/')
		f->flags |= AX_RF_NONCANON;
}

/* ax_is_connect says whether the request's method is CONNECT. */
static __always_inline int ax_is_connect(struct ax_flow *f)
{
	if (f->method_len != 7)
		return 0;
	__u64 m;
	__builtin_memcpy(&m, f->method, 8);
	return (m & 0x00ffffffffffffffULL) == AX_S_CONNECT;
}

/* ax_target_byte takes one byte of the request target. Every path byte goes
 * through the one ax_path_byte call at the end (the verifier sees its
 * branches once per parser step, not once per caller). */
static __always_inline void ax_target_byte(struct ax_flow *f, __u8 c)
{
	/* A '#' cannot be sent in a request target: servers that take it as a
	 * path byte would see another path (docs/semantics.md). */
	if (c == '#')
		f->flags |= AX_RF_NONCANON;
	switch (f->tgt) {
	case AX_T_FIRST:
		if (c == 'h' || c == 'H') {
			/* Go reads a CONNECT target that does not start with
			 * '/' as an authority: "CONNECT http://h/p" has the
			 * path "//h/p". No absolute form for CONNECT. */
			if (ax_is_connect(f)) {
				f->flags |= AX_RF_NONCANON;
				f->tgt = AX_T_QUERY;
				return;
			}
			f->tgt = AX_T_ABS;
			f->abs_pos = 1;
			return;
		}
		if (c == '?' || c == '#') {
			ax_path_end(f);
			f->tgt = AX_T_QUERY;
			return;
		}
		if (c == '*')
			f->flags |= AX_RF_STAR;
		f->tgt = AX_T_PATH;
		break;
	case AX_T_ABS: {
		__u8 pos = f->abs_pos;
		if (pos == 4 && (c == 's' || c == 'S') && !(f->flags & AX_RF_HTTPS)) {
			f->flags |= AX_RF_HTTPS; /* "https://" */
			return;
		}
		__u8 want = ax_chr(AX_S_HTTP, pos);
		__u8 got = pos < 4 ? (c | 0x20) : c;
		if (pos < 7 && got == want && (pos >= 4 || (c >= 'A' && c <= 'z'))) {
			f->abs_pos = pos + 1;
			if (pos + 1 == 7)
				f->tgt = AX_T_HOST;
			return;
		}
		/* A relative target not starting with '/'. */
		f->flags |= AX_RF_NONCANON;
		f->tgt = AX_T_QUERY;
		return;
	}
	case AX_T_HOST:
		/* The authority must name a host: RFC 3986 characters only, a
		 * host after any userinfo '@' and before any port ':'. abs_pos
		 * is 7 until a host byte, 8 after. "http:///p" names none: it
		 * is invalid (RFC 9110 4.2.1), and WHATWG URL parsers (Node's
		 * routers) skip the slashes and take the path's first segment
		 * as the host (red team rt45); a '\' ends their host too. */
		if (c == '/' || c == '?' || c == '#') {
			if (f->abs_pos != 8)
				f->flags |= AX_RF_NONCANON;
			if (c == '/') {
				f->tgt = AX_T_PATH;
				break;
			}
			ax_path_put(f, '/'); /* "http://host?q" is "/" */
			ax_path_end(f);
			f->tgt = AX_T_QUERY;
			return;
		}
		if (c == '@')
			f->abs_pos = 7;
		else if (c == ':' && f->abs_pos != 8)
			f->flags |= AX_RF_NONCANON;
		else if (ax_is_authchar(c))
			f->abs_pos = 8;
		else if (c != ':')
			f->flags |= AX_RF_NONCANON;
		return;
	case AX_T_PATH:
		if (c == '?' || c == '#') {
			ax_path_end(f);
			f->tgt = AX_T_QUERY;
			return;
		}
		break;
	default:
		return;
	}
	ax_path_byte(f, c);
}

static __always_inline void ax_target_end(struct ax_flow *f)
{
	switch (f->tgt) {
	case AX_T_HOST:
		if (f->abs_pos != 8)
			f->flags |= AX_RF_NONCANON; /* "http://", "http://u@": no host */
		ax_path_put(f, '/');
		ax_path_end(f);
		return;
	case AX_T_PATH:
		ax_path_end(f);
		return;
	case AX_T_QUERY:
		return;
	default:
		f->flags |= AX_RF_NONCANON;
		return;
	}
}

static __always_inline int ax_line_done(struct ax_flow *f)
{
	f->state = AX_ST_HDR;
	f->sub = AX_H_START;
	f->hflags = 0;
	f->cl = 0;
	return AX_P_CONT;
}

/* ax_line_step takes one byte of a request line. A CR anywhere but right
 * before the LF that ends a line is malformed (a server may end the line or
 * the header section there); a line may also end with a bare LF. */
static __always_inline int ax_line_step(struct ax_flow *f, __u8 c)
{
	switch (f->sub) {
	case AX_R_START:
		/* A byte behind an allowed WebSocket upgrade that the server
		 * has not answered yet (ax_headers_done): a server that does not
		 * take the upgrade may drop what it read with the request
		 * (Node.js does), and parse what follows from another byte than
		 * the datapath (class 32). */
		if (f->flags & AX_RF_WEBSOCKET)
			return AX_P_UPGRADE;
		if (c == '\r') {
			f->sub = AX_R_START_CR;
			return AX_P_CONT;
		}
		if (c == '\n')
			return AX_P_CONT;
		if (!ax_is_tchar(c))
			return AX_P_NOT_HTTP;
		f->method[0] = c;
		f->method_len = 1;
		f->sub = AX_R_METHOD;
		return AX_P_CONT;
	case AX_R_START_CR:
		if (c != '\n')
			return AX_P_MALFORMED;
		f->sub = AX_R_START;
		return AX_P_CONT;
	case AX_R_METHOD: {
		if (c == ' ' || c == '\t') {
			f->sub = AX_R_SP1;
			return AX_P_CONT;
		}
		if (c == '\r')
			return AX_P_MALFORMED;
		__u8 n = f->method_len;
		if (!ax_is_tchar(c) || n >= AX_METHOD_LIMIT)
			return AX_P_NOT_HTTP;
		if (n < AX_METHOD_MAX)
			f->method[ax_mask(n, AX_METHOD_MAX - 1)] = c;
		f->method_len = n + 1;
		return AX_P_CONT;
	}
	case AX_R_SP1:
		if (c == ' ' || c == '\t')
			return AX_P_CONT;
		if (c == '\r')
			return AX_P_MALFORMED;
		if (c == '\n')
			return AX_P_NOT_HTTP;
		f->sub = AX_R_TARGET;
		ax_target_byte(f, c);
		return AX_P_CONT;
	case AX_R_TARGET:
		if (c == ' ' || c == '\t') {
			/* Method and target are known: decided here, so that a
			 * denied request is reset before the server holds a
			 * whole request line (a server may log a line it never
			 * ran). The rest of the line is still checked. */
			ax_target_end(f);
			f->sub = AX_R_SP2;
			return AX_P_DECIDE;
		}
		if (c == '\r')
			return AX_P_MALFORMED;
		if (c == '\n')
			return AX_P_NOT_HTTP;
		ax_target_byte(f, c);
		return AX_P_CONT;
	case AX_R_SP2:
		if (c == ' ' || c == '\t')
			return AX_P_CONT;
		f->sub = AX_R_VERSION;
		f->ver_pos = 0;
		/* fallthrough */
	case AX_R_VERSION: {
		__u8 pos = f->ver_pos;
		if (pos < 7) {
			if (c == '\r')
				return AX_P_MALFORMED;
			if (c != ax_chr(AX_S_HTTP1, pos))
				return AX_P_NOT_HTTP;
		} else if (pos == 7) {
			if (c == '0')
				f->flags |= AX_RF_HTTP10;
			else if (c != '1')
				return c == '\r' ? AX_P_MALFORMED : AX_P_NOT_HTTP;
		} else {
			if (c == '\r') {
				f->sub = AX_R_CR;
				return AX_P_CONT;
			}
			if (c == '\n')
				return ax_line_done(f);
			return AX_P_NOT_HTTP;
		}
		f->ver_pos = pos + 1;
		return AX_P_CONT;
	}
	case AX_R_CR:
		if (c == '\n')
			return ax_line_done(f);
		return AX_P_MALFORMED;
	}
	return AX_P_MALFORMED;
}

/* Content-Length body probe (class 31). A server that answers without
 * reading a body and does not discard it (Python's http.server) reads the
 * body as its next request: its first line, split on whitespace, runs when
 * it has three words, the last starting "HTTP/", or two words, the first
 * "GET" (HTTP/0.9); anything else is an error that ends the connection. A
 * handler runs only a method it has (do_GET, do_PROPFIND, ...), so the
 * probe follows a first line whose first word is an uppercase method word
 * and refuses it when it would run, whatever the policy says of the
 * request it holds. Its state: f->sub (below) and f->value, which packs
 * the first word's first 3 bytes (bits 0-23), the first word's length (bits
 * 32-39) and how much of "HTTP/" the third word matched (bits 40-47). */
enum {
	AX_B_LEAD = 0, /* whitespace before the first word */
	AX_B_W0,       /* in the first word */
	AX_B_GAP1,     /* whitespace after it */
	AX_B_W1,       /* in the second word (the target) */
	AX_B_GAP2,     /* whitespace after it */
	AX_B_W2,       /* in the third word */
	AX_B_SKIP = 0xff,
};
#define AX_B_WORD_MAX 32	      /* longest method word followed */
#define AX_B_LINE_MAX 65536	      /* longer first lines: Python answers 414 */
#define AX_S_GET      0x544547ULL     /* "GET" */
#define AX_S_HTTPV    0x2f50545448ULL /* "HTTP/" */

/* ax_py_space: the bytes Python's str.split() splits on in a line decoded
 * as ISO-8859-1 (0x09-0x0d, 0x1c-0x20, 0x85, 0xa0; CR inside a line too),
 * but LF, which ends the line. */
static __always_inline int ax_py_space(__u8 c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == 0x0b || c == 0x0c ||
	       (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0;
}

/* ax_body_get_open: the body's first line so far is GET and a target.
 * Ended there (an LF, an empty line before the next request, the end of
 * the stream), Python runs it as HTTP/0.9. */
static __always_inline int ax_body_get_open(struct ax_flow *f)
{
	__u64 v = f->value;
	return (f->sub == AX_B_W1 || f->sub == AX_B_GAP2) && ((v >> 32) & 0xff) == 3 &&
	       (v & 0xffffff) == AX_S_GET;
}

/* ax_body_probe takes byte c of a Content-Length body's first line. */
static __always_inline int ax_body_probe(struct ax_flow *f, __u8 c)
{
	__u8 st = f->sub;
	__u64 v = f->value;
	__u8 n0 = (v >> 32) & 0xff;
	__u8 m = (v >> 40) & 0xff;
	if (f->cl - f->remaining > AX_B_LINE_MAX)
		goto skip;
	if (c == '\n') {
		if (ax_body_get_open(f))
			return AX_P_MALFORMED;
		goto skip;
	}
	if (ax_py_space(c)) {
		if (st == AX_B_W0)
			f->sub = AX_B_GAP1;
		else if (st == AX_B_W1)
			f->sub = AX_B_GAP2;
		else if (st == AX_B_W2)
			goto skip; /* a third word shorter than "HTTP/" */
		return AX_P_CONT;
	}
	switch (st) {
	case AX_B_LEAD:
	case AX_B_W0:
		if (!((c >= 'A' && c <= 'Z') || (st == AX_B_W0 && (c == '-' || c == '_'))) ||
		    n0 >= AX_B_WORD_MAX)
			goto skip;
		if (n0 < 3)
			v |= (__u64)c << ((n0 & 3) * 8);
		v = (v & ~(0xffULL << 32)) | ((__u64)(n0 + 1) << 32);
		f->value = v;
		f->sub = AX_B_W0;
		return AX_P_CONT;
	case AX_B_GAP1:
		f->sub = AX_B_W1;
		return AX_P_CONT;
	case AX_B_W1:
		return AX_P_CONT;
	case AX_B_GAP2:
	case AX_B_W2:
		if (c != ax_chr(AX_S_HTTPV, m))
			goto skip;
		if (m + 1 == 5)
			return AX_P_MALFORMED; /* "<METHOD> <target> HTTP/" */
		f->value = (v & ~(0xffULL << 40)) | ((__u64)(m + 1) << 40);
		f->sub = AX_B_W2;
		return AX_P_CONT;
	}
skip:
	f->sub = AX_B_SKIP;
	return AX_P_CONT;
}

/* ax_body_end: the body ends inside its first line, which the next
 * request's line then continues for such a server. Refused: a body that
 * ends in its first word (an uppercase word, nothing after it: "PUR"
 * before "GE /x HTTP/1.1" is PURGE), and GET and a target (an empty line
 * before the next request, which the datapath skips, or the end of the
 * stream ends Python's line there). */
static __always_inline int ax_body_end(struct ax_flow *f)
{
	return f->sub == AX_B_W0 || ax_body_get_open(f) ? AX_P_MALFORMED : AX_P_CONT;
}

/* ax_body_step takes byte c of a Content-Length body while ax_body_probe
 * follows its first line, and ends the request with the body's last byte. */
static __always_inline int ax_body_step(struct ax_flow *f, __u8 c)
{
	if (ax_body_probe(f, c) != AX_P_CONT)
		return AX_P_MALFORMED;
	if (--f->remaining == 0) {
		if (ax_body_end(f) != AX_P_CONT)
			return AX_P_MALFORMED;
		ax_req_reset(f);
	}
	return AX_P_CONT;
}

/* ax_headers_done decides how the body is delimited (RFC 9112 6.3), failing
 * on every ambiguity a server could read differently: Transfer-Encoding with
 * Content-Length, without chunked as the final coding, or on HTTP/1.0 (where
 * some servers ignore it). A request with "Upgrade: websocket" leaves
 * AX_RF_WEBSOCKET in f->flags (also after ax_req_reset, for a request
 * without a body, until the next request's ax_req_reset). */
static __always_inline int ax_headers_done(struct ax_flow *f)
{
	__u8 hf = f->hflags;
	__u8 ws = (hf & AX_HF_WS) ? AX_RF_WEBSOCKET : 0;
	/* A WebSocket upgrade opens its connection, has no body, and is the
	 * last thing the client sends until the server answers (RFC 6455
	 * 4.1): only then does the stream know where the answer starts
	 * (axon_tc.c, ax_websocket_pending). Node.js drops what it read
	 * behind an upgrade it does not take; later in a connection, or
	 * behind a body, the datapath could not tell where its parse of the
	 * rest starts (class 32). */
	if (ws && (f->nreq > 1 || (hf & AX_HF_TE) || ((hf & AX_HF_CL) && f->cl > 0)))
		return AX_P_UPGRADE;
	if (hf & AX_HF_TE) {
		if (!(hf & AX_HF_CHUNKED) || (hf & AX_HF_CL) || (f->flags & AX_RF_HTTP10))
			return AX_P_MALFORMED;
		f->state = AX_ST_CHUNK_SIZE;
		f->sub = AX_C_DIG;
		f->value = 0;
		f->hflags = hf & ~AX_HF_DIG;
		f->flags |= ws;
		return AX_P_CONT;
	}
	if ((hf & AX_HF_CL) && f->cl > 0) {
		f->state = AX_ST_BODY;
		f->sub = AX_B_LEAD; /* ax_body_probe follows the first line */
		f->value = 0;
		f->remaining = f->cl;
		f->flags |= ws;
		return AX_P_CONT;
	}
	ax_req_reset(f);
	f->flags |= ws;
	return AX_P_CONT;
}

/* ax_name_char matches one header-name byte against the names the parser
 * needs: name_ok bit 0 Content-Length, bit 1 Transfer-Encoding, bit 2
 * Upgrade. */
static __always_inline int ax_name_char(struct ax_flow *f, __u8 c)
{
	__u8 pos = f->name_pos;
	__u8 lc = c | 0x20;
	if (pos >= 17) {
		f->name_ok = 0;
		return AX_P_CONT;
	}
	__u8 cl = pos < 8 ? ax_chr(AX_S_CONTENT, pos) : ax_chr(AX_S_LENGTH, pos - 8);
	__u8 te =
	    pos < 8 ? ax_chr(AX_S_TRANSFER, pos) : (pos < 16 ? ax_chr(AX_S_ENCODIN, pos - 8) : 'g');
	__u8 up = pos < 7 ? ax_chr(AX_S_UPGRADE, pos) : 0;
	if (pos >= 14 || lc != cl)
		f->name_ok &= ~1;
	if (lc != te)
		f->name_ok &= ~2;
	if (lc != up)
		f->name_ok &= ~4;
	f->name_pos = pos + 1;
	return AX_P_CONT;
}

/* ax_te_step takes one byte of a Transfer-Encoding value: a list of tokens
 * (no parameters, no empty elements) whose last one must be "chunked" and no
 * other one may be. */
static __always_inline int ax_te_step(struct ax_flow *f, __u8 c)
{
	__u8 t = f->te_pos;
	__u8 pos = t & AX_TOK_POS;
	if (c == '\n') {
		if (!(t & AX_TOK_STARTED))
			return AX_P_MALFORMED;
		f->hflags |= AX_HF_TE | (pos == 7 ? AX_HF_CHUNKED : 0);
		f->sub = AX_H_START;
		return AX_P_CONT;
	}
	if (c == ',') {
		if (!(t & AX_TOK_STARTED) || pos == 7)
			return AX_P_MALFORMED;
		f->te_pos = 0;
		return AX_P_CONT;
	}
	if (c == ' ' || c == '\t') {
		if (t & AX_TOK_STARTED)
			f->te_pos = t | AX_TOK_ENDED;
		return AX_P_CONT;
	}
	if (!ax_is_tchar(c) || (t & AX_TOK_ENDED))
		return AX_P_MALFORMED;
	if (pos < 7 && (c | 0x20) == ax_chr(AX_S_CHUNKED, pos))
		pos++;
	else
		pos = AX_TOK_NO;
	f->te_pos = pos | AX_TOK_STARTED;
	return AX_P_CONT;
}

/* ax_upgrade_step takes one byte of an Upgrade value: only "websocket"
 * (case-insensitive) alone, in one Upgrade header, is accepted; anything
 * else (h2c, a list) is refused at the end of the line. */
static __always_inline int ax_upgrade_step(struct ax_flow *f, __u8 c)
{
	__u8 t = f->te_pos;
	__u8 pos = t & AX_TOK_POS;
	if (c == '\n') {
		if (pos != 9 || (f->hflags & AX_HF_WS))
			return AX_P_UPGRADE;
		f->hflags |= AX_HF_WS;
		f->sub = AX_H_START;
		return AX_P_CONT;
	}
	if (c == ' ' || c == '\t') {
		if (t & AX_TOK_STARTED)
			f->te_pos = t | AX_TOK_ENDED;
		return AX_P_CONT;
	}
	__u8 want = pos < 8 ? ax_chr(AX_S_WEBSOCKE, pos) : 't';
	if ((t & AX_TOK_ENDED) || pos >= 9 || (c | 0x20) != want)
		pos = AX_TOK_NO;
	else
		pos++;
	f->te_pos = pos | AX_TOK_STARTED;
	return AX_P_CONT;
}

/* ax_hdr_step takes one byte of the header section. Lines end with CRLF or a
 * bare LF; a CR not followed by LF and any other control byte but HTAB are
 * malformed, wherever they are. */
static __always_inline int ax_hdr_step(struct ax_flow *f, __u8 c)
{
	__u8 hf = f->hflags;
	if (hf & AX_HF_CR) {
		if (c != '\n')
			return AX_P_MALFORMED;
		f->hflags = hf & ~AX_HF_CR;
	} else if (c == '\r') {
		f->hflags = hf | AX_HF_CR;
		return AX_P_CONT;
	} else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
		return AX_P_MALFORMED;
	}
	switch (f->sub) {
	case AX_H_START:
		if (c == '\n') {
			if (f->redecide == AX_RD_LATER) {
				f->redecide = AX_RD_NOW;
				return AX_P_AGAIN;
			}
			return ax_headers_done(f);
		}
		if (!ax_is_tchar(c)) /* includes obs-fold */
			return AX_P_MALFORMED;
		f->sub = AX_H_NAME;
		f->name_pos = 0;
		f->name_ok = 7;
		return ax_name_char(f, c);
	case AX_H_NAME:
		if (c == ':') {
			__u8 ok = f->name_ok, np = f->name_pos;
			if ((ok & 1) && np == 14) {
				f->sub = AX_H_CL;
				f->value = 0;
				f->hflags &= ~(AX_HF_DIG | AX_HF_DIGEND);
			} else if ((ok & 2) && np == 17) {
				/* A coding after chunked, in another line. */
				if (f->hflags & AX_HF_CHUNKED)
					return AX_P_MALFORMED;
				f->sub = AX_H_TE;
				f->te_pos = 0;
			} else if ((ok & 4) && np == 7) {
				f->sub = AX_H_UPG;
				f->te_pos = 0;
			} else {
				f->sub = AX_H_VALUE;
			}
			return AX_P_CONT;
		}
		if (!ax_is_tchar(c))
			return AX_P_MALFORMED;
		return ax_name_char(f, c);
	case AX_H_VALUE:
		if (c == '\n')
			f->sub = AX_H_START;
		return AX_P_CONT;
	case AX_H_CL: {
		hf = f->hflags;
		if (c == ' ' || c == '\t') {
			if (hf & AX_HF_DIG)
				f->hflags = hf | AX_HF_DIGEND;
			return AX_P_CONT;
		}
		if (c == '\n') {
			if (!(hf & AX_HF_DIG))
				return AX_P_MALFORMED;
			if ((hf & AX_HF_CL) && f->cl != f->value)
				return AX_P_MALFORMED;
			f->cl = f->value;
			f->hflags = hf | AX_HF_CL;
			f->sub = AX_H_START;
			return AX_P_CONT;
		}
		if (c < '0' || c > '9' || (hf & AX_HF_DIGEND) || f->value > (1ULL << 40))
			return AX_P_MALFORMED;
		f->value = f->value * 10 + (c - '0');
		f->hflags = hf | AX_HF_DIG;
		return AX_P_CONT;
	}
	case AX_H_TE:
		return ax_te_step(f, c);
	case AX_H_UPG:
		return ax_upgrade_step(f, c);
	}
	return AX_P_MALFORMED;
}

static __always_inline int ax_chunk_size_done(struct ax_flow *f)
{
	if (f->value == 0) {
		f->state = AX_ST_TRAILER;
		f->sub = AX_H_START;
	} else {
		f->state = AX_ST_CHUNK_DATA;
		f->remaining = f->value;
	}
	return AX_P_CONT;
}

/* ax_chunk_size_step takes one byte of a chunk-size line: hex digits,
 * optional whitespace, optional extensions (no control bytes), CRLF. A bare
 * LF or CR is malformed, as every server tested rejects it. */
static __always_inline int ax_chunk_size_step(struct ax_flow *f, __u8 c)
{
	switch (f->sub) {
	case AX_C_DIG: {
		int h = ax_hex(c);
		if (h >= 0) {
			if (f->value > (1ULL << 40))
				return AX_P_MALFORMED;
			f->value = f->value * 16 + h;
			f->hflags |= AX_HF_DIG;
			return AX_P_CONT;
		}
		if (!(f->hflags & AX_HF_DIG))
			return AX_P_MALFORMED;
		if (c == ';') {
			f->sub = AX_C_EXT;
			return AX_P_CONT;
		}
		if (c == ' ' || c == '\t') {
			f->sub = AX_C_BWS;
			return AX_P_CONT;
		}
		if (c == '\r') {
			f->sub = AX_C_CR;
			return AX_P_CONT;
		}
		return AX_P_MALFORMED;
	}
	case AX_C_BWS:
		if (c == ' ' || c == '\t')
			return AX_P_CONT;
		if (c == ';') {
			f->sub = AX_C_EXT;
			return AX_P_CONT;
		}
		if (c == '\r') {
			f->sub = AX_C_CR;
			return AX_P_CONT;
		}
		return AX_P_MALFORMED;
	case AX_C_EXT:
		if (c == '\r') {
			f->sub = AX_C_CR;
			return AX_P_CONT;
		}
		/* Extensions are tokens, "=", ";" and whitespace (no quoted
		 * strings): a chunk line must never read as a request line to
		 * a server that ignores Transfer-Encoding (Python's). */
		if (ax_is_tchar(c) || c == '=' || c == ';' || c == ' ' || c == '\t')
			return AX_P_CONT;
		return AX_P_MALFORMED;
	default:
		if (c == '\n')
			return ax_chunk_size_done(f);
		return AX_P_MALFORMED;
	}
}

/* The CRLF after chunk data: exactly CR LF. */
static __always_inline int ax_chunk_crlf_step(struct ax_flow *f, __u8 c)
{
	if (f->sub == 0) {
		if (c != '\r')
			return AX_P_MALFORMED;
		f->sub = 1;
		return AX_P_CONT;
	}
	if (c != '\n')
		return AX_P_MALFORMED;
	f->state = AX_ST_CHUNK_SIZE;
	f->sub = AX_C_DIG;
	f->value = 0;
	f->hflags &= ~AX_HF_DIG;
	return AX_P_CONT;
}

/* Trailer lines end at an empty line; their content is not needed, but every
 * line must be a field line (token, ':', value without control bytes) ending
 * in CRLF. */
static __always_inline int ax_trailer_step(struct ax_flow *f, __u8 c)
{
	switch (f->sub) {
	case AX_H_START:
		if (c == '\r') {
			f->sub = AX_H_EMPTY_CR;
			return AX_P_CONT;
		}
		if (!ax_is_tchar(c))
			return AX_P_MALFORMED;
		f->sub = AX_H_NAME;
		return AX_P_CONT;
	case AX_H_EMPTY_CR:
		if (c != '\n')
			return AX_P_MALFORMED;
		ax_req_reset(f);
		return AX_P_CONT;
	case AX_H_NAME:
		if (c == ':') {
			f->sub = AX_H_VALUE;
			return AX_P_CONT;
		}
		if (!ax_is_tchar(c))
			return AX_P_MALFORMED;
		return AX_P_CONT;
	case AX_H_VALUE:
		if (c == '\r') {
			f->sub = AX_H_LINE_CR;
			return AX_P_CONT;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return AX_P_MALFORMED;
		return AX_P_CONT;
	default:
		if (c != '\n')
			return AX_P_MALFORMED;
		f->sub = AX_H_START;
		return AX_P_CONT;
	}
}

/* ax_value_word reports whether none of the 8 bytes of x is a control byte
 * (below 0x20, or 0x7f): the bytes a header value skips. Exact for every
 * byte value (the classic "has less than" and "has zero byte" tests). */
static __always_inline int ax_value_word(__u64 x)
{
	const __u64 ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	__u64 del = x ^ (0x7f * ones);
	__u64 below = (x - 0x20 * ones) & ~x & highs;
	__u64 is_del = (del - ones) & ~del & highs;
	return (below | is_del) == 0;
}

/* ax_skip_value returns the offset of the first byte at or after pos, and
 * before end, that is not a header value byte (>= 0x20 and not 0x7f), or
 * the offset after AX_SKIP_WORDS words and AX_SKIP_TAIL bytes: the caller
 * takes that byte (CR, LF, HTAB, a control byte) through ax_hdr_step. */
static __always_inline __u32 ax_skip_value(void *data, void *data_end, __u32 pos, __u32 end)
{
	__u32 q = pos;
	for (int j = 0; j < AX_SKIP_WORDS; j++) {
		if (q + 8 > end || q >= 0xfff0)
			break;
		__u8 *w = data + q;
		if ((void *)(w + 8) > data_end)
			break;
		if (!ax_value_word(*(__u64 *)w))
			break;
		q += 8;
	}
	for (int j = 0; j < AX_SKIP_TAIL; j++) {
		if (q >= end || q >= 0xfff0)
			break;
		__u8 *b = data + q;
		if ((void *)(b + 1) > data_end)
			break;
		__u8 c = *b;
		if (c < 0x20 || c == 0x7f)
			break;
		q++;
	}
	return q;
}

/* ax_skip_name skips the tchars at s->pos, at most AX_SKIP_NAME, and says
 * whether it skipped any: the rest of a header name that can no longer be
 * one the parser needs (name_ok 0), where each tchar changes nothing (see
 * ax_hdr_step and ax_name_char). The caller takes the byte that ends the
 * run (':', or a byte that makes the line malformed) through ax_hdr_step. */
static __always_inline int ax_skip_name(struct ax_scratch *s, void *data, void *data_end)
{
	int ran = 0;
	for (int j = 0; j < AX_SKIP_NAME; j++) {
		/* The position stays in memory (see ax_path_run). */
		asm volatile("" ::: "memory");
		__u32 q = s->pos;
		if (q >= s->end || q >= 0xfff0)
			break;
		__u8 *b = data + q;
		if ((void *)(b + 1) > data_end)
			break;
		if (!ax_is_tchar(*b))
			break;
		s->pos = q + 1;
		ran = 1;
	}
	return ran;
}

/* ax_path_run appends a run of plain path bytes (ax_is_plain: none of
 * ax_path_byte's checks can fire on them) to the path, at most AX_PATH_RUN,
 * and says whether it took any; the caller takes the byte that ends the
 * run (and a byte past AX_PATH_LIMIT) through ax_line_step. Only while the
 * target is in its path, with no escape open and not after a '*'. */
static __always_inline int ax_path_run(struct ax_scratch *s, struct ax_flow *f, void *data,
				       void *data_end)
{
	int ran = 0;
	for (int j = 0; j < AX_PATH_RUN; j++) {
		/* Its state stays in memory, not in registers: the verifier
		 * then sees every iteration alike. */
		asm volatile("" ::: "memory");
		__u32 q = s->pos;
		__u16 n = f->path_len;
		if (q >= s->end || q >= 0xfff0 || n >= AX_PATH_LIMIT)
			break;
		__u8 *b = data + q;
		if ((void *)(b + 1) > data_end)
			break;
		__u8 c = *b;
		if (!ax_is_plain(c))
			break;
		if (n < AX_PATH_BUF)
			f->path[ax_mask(n, AX_PATH_BUF - 1)] = c;
		f->path_len = n + 1;
		f->h2 = f->h1;
		f->h1 = f->h0;
		f->h0 = c;
		s->pos = q + 1;
		ran = 1;
	}
	return ran;
}

/* ax_is_crlf says whether the payload holds CR LF at pos. */
static __always_inline int ax_is_crlf(void *data, void *data_end, __u32 pos, __u32 end)
{
	if (pos + 2 > end)
		return 0;
	__u8 *b = data + pos;
	if ((void *)(b + 2) > data_end)
		return 0;
	return b[0] == '\r' && b[1] == '\n';
}

/* ax_version_word takes "HTTP/1.1" or "HTTP/1.0" whole where the version
 * starts (after the spaces that follow the target), and the CRLF after it,
 * as ax_line_step would byte by byte; returns the offset after what it
 * took, or pos. */
static __always_inline __u32 ax_version_word(struct ax_flow *f, void *data, void *data_end,
					     __u32 pos, __u32 end)
{
	if (pos + 8 > end)
		return pos;
	__u8 *w = data + pos;
	if ((void *)(w + 8) > data_end)
		return pos;
	__u64 x = *(__u64 *)w;
	__u8 minor = x >> 56;
	if ((x & 0x00ffffffffffffffULL) != AX_S_HTTP1 || (minor != '1' && minor != '0'))
		return pos;
	if (minor == '0')
		f->flags |= AX_RF_HTTP10;
	if (ax_is_crlf(data, data_end, pos + 8, end)) {
		ax_line_done(f);
		return pos + 10;
	}
	f->sub = AX_R_VERSION;
	f->ver_pos = 8;
	return pos + 8;
}

/* ax_parse advances the flow named by the scratch area over at most
 * AX_PARSE_STEP bytes of the payload. A global function: the verifier checks
 * it once, whatever the caller's state. */
__attribute__((noinline)) int ax_parse(struct __sk_buff *skb)
{
	AX_KEEP_ARG(skb);
	struct ax_scratch *s = ax_scratch();
	if (!s)
		return AX_P_MALFORMED;
	struct ax_flow *f = bpf_map_lookup_elem(&flows, &s->key);
	if (!f)
		return AX_P_MALFORMED;

	for (int i = 0; i < AX_PARSE_STEP; i++) {
		/* Keep no parser state in registers across iterations, so that
		 * every iteration looks alike to the verifier. */
		asm volatile("" ::: "memory");
		__u32 pos = s->pos;
		__u32 end = s->end;
		if (pos >= end)
			return AX_P_DONE;
		__u8 state = f->state;
		/* A body is skipped by count, but for a Content-Length
		 * body's first line while ax_body_probe follows it: that
		 * goes a byte at a time (below). */
		if (state == AX_ST_CHUNK_DATA || (state == AX_ST_BODY && f->sub == AX_B_SKIP)) {
			__u64 avail = end - pos;
			__u64 n = f->remaining < avail ? f->remaining : avail;
			f->remaining -= n;
			s->pos = pos + (__u32)n;
			if (f->remaining == 0) {
				if (state == AX_ST_BODY) {
					ax_req_reset(f);
				} else {
					f->state = AX_ST_CHUNK_CRLF;
					f->sub = 0;
				}
			}
			continue;
		}
		void *data = ax_data(skb);
		void *data_end = ax_data_end(skb);
		if (pos >= 0xfff0)
			return AX_P_MALFORMED; /* beyond what packet pointers reach */

		/* Fast path: a run of header value bytes that are not control
		 * bytes changes nothing (see ax_hdr_step); skip it eight bytes
		 * at a time, then byte by byte up to the byte that ends it. */
		if (state == AX_ST_HDR && f->sub == AX_H_VALUE && !(f->hflags & AX_HF_CR)) {
			/* The CRLF that ends the value's line: what its two
			 * steps would do. */
			if (ax_is_crlf(data, data_end, pos, end)) {
				f->sub = AX_H_START;
				s->pos = pos + 2;
				continue;
			}
			__u32 q = ax_skip_value(data, data_end, pos, end);
			if (q != pos) {
				s->pos = q;
				continue;
			}
		}
		/* Fast path: the rest of a header name none of the needed
		 * ones can be (ax_skip_name). */
		if (state == AX_ST_HDR && f->sub == AX_H_NAME && f->name_ok == 0 &&
		    !(f->hflags & AX_HF_CR)) {
			if (ax_skip_name(s, data, data_end))
				continue;
		}
		if (state == AX_ST_LINE) {
			__u8 sub = f->sub;
			/* Fast path: a run of letters, digits, '-', '_' or '~'
			 * inside the path changes nothing but the path and its
			 * history (ax_path_run). */
			if (sub == AX_R_TARGET && f->tgt == AX_T_PATH && f->pct == 0 &&
			    !(f->flags & AX_RF_STAR)) {
				if (ax_path_run(s, f, data, data_end))
					continue;
			}
			/* Fast path: the version as one word. */
			if (sub == AX_R_SP2 || (sub == AX_R_VERSION && f->ver_pos == 0)) {
				__u32 q = ax_version_word(f, data, data_end, pos, end);
				if (q != pos) {
					s->pos = q;
					continue;
				}
			}
		}
		__u8 *p = data + pos;
		if ((void *)(p + 1) > data_end)
			return AX_P_MALFORMED;
		__u8 c = *p;
		s->pos = pos + 1;

		int r;
		switch (state) {
		case AX_ST_LINE:
			r = ax_line_step(f, c);
			break;
		case AX_ST_HDR:
			r = ax_hdr_step(f, c);
			break;
		case AX_ST_CHUNK_SIZE:
			r = ax_chunk_size_step(f, c);
			break;
		case AX_ST_CHUNK_CRLF:
			r = ax_chunk_crlf_step(f, c);
			break;
		case AX_ST_TRAILER:
			r = ax_trailer_step(f, c);
			break;
		case AX_ST_BODY:
			r = ax_body_step(f, c);
			break;
		default:
			r = AX_P_MALFORMED;
			break;
		}
		if (r == AX_P_AGAIN) {
			/* The byte is taken again after the decision. */
			s->pos = pos;
			return AX_P_DECIDE;
		}
		if (r != AX_P_CONT)
			return r;
	}
	return AX_P_MORE;
}

#endif
