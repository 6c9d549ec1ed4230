/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Incremental HTTP/1.x request parser: one byte at a time, all state in the
 * flow, so a request may be split anywhere across segments. ax_parse stops
 * when a request line is complete (the caller decides it), at the end of the
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
	AX_P_DECIDE = 2,   /* a request line is complete */
	AX_P_MORE = 3,	   /* step budget used: call again */
	AX_P_NOT_HTTP = 4, /* not an HTTP/1.x request */
	AX_P_MALFORMED = 5,
	AX_P_DENIED = 7, /* (ax_parse_rounds) a request was denied */
};

/* Request-line sub-states. */
enum { AX_R_START, AX_R_METHOD, AX_R_SP1, AX_R_TARGET, AX_R_SP2, AX_R_VERSION, AX_R_CR };
/* Request-target sub-states. */
enum { AX_T_FIRST, AX_T_ABS, AX_T_HOST, AX_T_PATH, AX_T_QUERY };
/* Header-line sub-states (also used by trailers). */
enum { AX_H_START, AX_H_EMPTY_CR, AX_H_NAME, AX_H_VALUE, AX_H_CL, AX_H_TE };
/* Chunk-size sub-states. */
enum { AX_C_DIG, AX_C_EXT, AX_C_CR };

/* Packed ASCII strings: byte i of the constant is character i. */
#define AX_S_HTTP1    0x2e312f50545448ULL   /* "HTTP/1." */
#define AX_S_CONTENT  0x2d746e65746e6f63ULL /* "content-" */
#define AX_S_LENGTH   0x6874676e656cULL	    /* "length" */
#define AX_S_TRANSFER 0x726566736e617274ULL /* "transfer" */
#define AX_S_ENCODIN  0x6e69646f636e652dULL /* "-encodin" */
#define AX_S_CHUNKED  0x64656b6e756863ULL   /* "chunked" */
#define AX_S_HTTP     0x2f2f3a70747468ULL   /* "http://" */

static __always_inline __u8 ax_chr(__u64 s, __u32 i)
{
	return (s >> ((i & 7) * 8)) & 0xff;
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

/* ax_path_byte appends one path byte and applies the streaming checks of
 * docs/semantics.md "Non-canonical paths". */
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
		if (h < 0) {
			f->flags |= AX_RF_NONCANON;
			f->pct = 0;
		} else {
			f->pct_hi = h;
			f->pct = 2;
		}
	} else if (f->pct == 2) {
		int h = ax_hex(c);
		if (h < 0 || ax_is_unescaped_only((f->pct_hi << 4) | h))
			f->flags |= AX_RF_NONCANON;
		f->pct = 0;
	} else if (c == '%') {
		f->pct = 1;
	}
	if (c == '/') {
		if (f->h0 == '/')
			f->flags |= AX_RF_NONCANON;
		if (f->h0 == '.' && f->h1 == '/')
			f->flags |= AX_RF_NONCANON;
		if (f->h0 == '.' && f->h1 == '.' && f->h2 == '/')
			f->flags |= AX_RF_NONCANON;
	}
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

static __always_inline void ax_target_byte(struct ax_flow *f, __u8 c)
{
	switch (f->tgt) {
	case AX_T_FIRST:
		if (c == 'h' || c == 'H') {
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
		ax_path_byte(f, c);
		return;
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
		if (c == '/') {
			f->tgt = AX_T_PATH;
			ax_path_byte(f, c);
		} else if (c == '?' || c == '#') {
			ax_path_byte(f, '/');
			ax_path_end(f);
			f->tgt = AX_T_QUERY;
		}
		return;
	case AX_T_PATH:
		if (c == '?' || c == '#') {
			ax_path_end(f);
			f->tgt = AX_T_QUERY;
			return;
		}
		ax_path_byte(f, c);
		return;
	default:
		return;
	}
}

static __always_inline void ax_target_end(struct ax_flow *f)
{
	switch (f->tgt) {
	case AX_T_HOST:
		ax_path_byte(f, '/');
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
	return AX_P_DECIDE;
}

static __always_inline int ax_line_step(struct ax_flow *f, __u8 c)
{
	switch (f->sub) {
	case AX_R_START:
		if (c == '\r' || c == '\n')
			return AX_P_CONT;
		if (!ax_is_tchar(c))
			return AX_P_NOT_HTTP;
		f->method[0] = c;
		f->method_len = 1;
		f->sub = AX_R_METHOD;
		return AX_P_CONT;
	case AX_R_METHOD: {
		if (c == ' ' || c == '\t') {
			f->sub = AX_R_SP1;
			return AX_P_CONT;
		}
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
		if (c == '\r' || c == '\n')
			return AX_P_NOT_HTTP;
		f->sub = AX_R_TARGET;
		ax_target_byte(f, c);
		return AX_P_CONT;
	case AX_R_TARGET:
		if (c == ' ' || c == '\t') {
			ax_target_end(f);
			f->sub = AX_R_SP2;
			return AX_P_CONT;
		}
		if (c == '\r' || c == '\n')
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
			if (c != ax_chr(AX_S_HTTP1, pos))
				return AX_P_NOT_HTTP;
		} else if (pos == 7) {
			if (c != '0' && c != '1')
				return AX_P_NOT_HTTP;
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
		return AX_P_NOT_HTTP;
	}
	return AX_P_MALFORMED;
}

/* ax_headers_done decides how the body is delimited (RFC 9112 6.3), failing
 * on every ambiguity a server could read differently. */
static __always_inline int ax_headers_done(struct ax_flow *f)
{
	__u8 hf = f->hflags;
	if (hf & AX_HF_TE) {
		if (!(hf & AX_HF_CHUNKED) || (hf & AX_HF_CL))
			return AX_P_MALFORMED;
		f->state = AX_ST_CHUNK_SIZE;
		f->sub = AX_C_DIG;
		f->value = 0;
		f->hflags = hf & ~AX_HF_DIG;
		return AX_P_CONT;
	}
	if ((hf & AX_HF_CL) && f->cl > 0) {
		f->state = AX_ST_BODY;
		f->remaining = f->cl;
		return AX_P_CONT;
	}
	ax_req_reset(f);
	return AX_P_CONT;
}

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
	if (pos >= 14 || lc != cl)
		f->name_ok &= ~1;
	if (lc != te)
		f->name_ok &= ~2;
	f->name_pos = pos + 1;
	return AX_P_CONT;
}

static __always_inline int ax_hdr_step(struct ax_flow *f, __u8 c)
{
	switch (f->sub) {
	case AX_H_START:
		if (c == '\r') {
			f->sub = AX_H_EMPTY_CR;
			return AX_P_CONT;
		}
		if (c == '\n')
			return ax_headers_done(f);
		if (!ax_is_tchar(c)) /* includes obs-fold */
			return AX_P_MALFORMED;
		f->sub = AX_H_NAME;
		f->name_pos = 0;
		f->name_ok = 3;
		return ax_name_char(f, c);
	case AX_H_EMPTY_CR:
		if (c == '\n')
			return ax_headers_done(f);
		return AX_P_MALFORMED;
	case AX_H_NAME:
		if (c == ':') {
			if ((f->name_ok & 1) && f->name_pos == 14) {
				f->sub = AX_H_CL;
				f->value = 0;
				f->hflags &= ~(AX_HF_DIG | AX_HF_DIGEND);
			} else if ((f->name_ok & 2) && f->name_pos == 17) {
				f->sub = AX_H_TE;
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
		__u8 hf = f->hflags;
		if (c == ' ' || c == '\t' || c == '\r') {
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
	case AX_H_TE: {
		__u8 pos = f->te_pos;
		if (c == '\n') {
			__u8 hf = f->hflags | AX_HF_TE;
			if (pos == 7)
				hf |= AX_HF_CHUNKED;
			else
				hf &= ~AX_HF_CHUNKED;
			f->hflags = hf;
			f->sub = AX_H_START;
			return AX_P_CONT;
		}
		if (c == ',') {
			f->te_pos = 0;
			return AX_P_CONT;
		}
		if (c == ' ' || c == '\t' || c == '\r')
			return AX_P_CONT;
		if (pos < 7 && (c | 0x20) == ax_chr(AX_S_CHUNKED, pos))
			f->te_pos = pos + 1;
		else
			f->te_pos = 8;
		return AX_P_CONT;
	}
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
		if (c == ';' || c == ' ' || c == '\t') {
			f->sub = AX_C_EXT;
			return AX_P_CONT;
		}
		if (c == '\r') {
			f->sub = AX_C_CR;
			return AX_P_CONT;
		}
		if (c == '\n')
			return ax_chunk_size_done(f);
		return AX_P_MALFORMED;
	}
	case AX_C_EXT:
		if (c == '\n')
			return ax_chunk_size_done(f);
		return AX_P_CONT;
	default:
		if (c == '\n')
			return ax_chunk_size_done(f);
		return AX_P_MALFORMED;
	}
}

static __always_inline int ax_chunk_crlf_step(struct ax_flow *f, __u8 c)
{
	if (c == '\r' && f->sub == 0) {
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

/* Trailer lines end at an empty line; their content is not needed. */
static __always_inline int ax_trailer_step(struct ax_flow *f, __u8 c)
{
	switch (f->sub) {
	case AX_H_START:
		if (c == '\r') {
			f->sub = AX_H_EMPTY_CR;
			return AX_P_CONT;
		}
		if (c == '\n') {
			ax_req_reset(f);
			return AX_P_CONT;
		}
		f->sub = AX_H_VALUE;
		return AX_P_CONT;
	case AX_H_EMPTY_CR:
		if (c != '\n')
			return AX_P_MALFORMED;
		ax_req_reset(f);
		return AX_P_CONT;
	default:
		if (c == '\n')
			f->sub = AX_H_START;
		return AX_P_CONT;
	}
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
		if (state == AX_ST_BODY || state == AX_ST_CHUNK_DATA) {
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
		__u8 *p = data + pos;
		if ((void *)(p + 1) > data_end)
			return AX_P_MALFORMED;
		__u8 c = *p;
		s->pos = pos + 1;

		/* Fast path: a letter, digit, '-', '_' or '~' inside the path
		 * changes nothing but the path and its history (see
		 * ax_path_byte: none of the checks can fire). */
		if (state == AX_ST_LINE && f->sub == AX_R_TARGET && f->tgt == AX_T_PATH &&
		    f->pct == 0 && !(f->flags & AX_RF_STAR) && ax_is_plain(c)) {
			__u16 n = f->path_len;
			if (n < AX_PATH_LIMIT) {
				if (n < AX_PATH_BUF)
					f->path[ax_mask(n, AX_PATH_BUF - 1)] = c;
				f->path_len = n + 1;
				f->h2 = f->h1;
				f->h1 = f->h0;
				f->h0 = c;
				continue;
			}
		}

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
		default:
			r = AX_P_MALFORMED;
			break;
		}
		if (r != AX_P_CONT)
			return r;
	}
	return AX_P_MORE;
}

#endif
