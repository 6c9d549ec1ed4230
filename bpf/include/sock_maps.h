/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps and shared structs of the socket-level observer (axon_sock.c).
 * Structs shared with Go are naturally aligned with explicit padding;
 * agent/observe checks them against this object's BTF. */
#ifndef AXS_SOCK_MAPS_H
#define AXS_SOCK_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sock_sizing.h"

/* Ring-buffer event types: the first byte of every event. */
enum axs_event_type {
	AXS_EV_DATA = 1,  /* a buffer that starts an HTTP/1.x message */
	AXS_EV_CLOSE = 2, /* the end (TCP_CLOSE) of a connection that carried HTTP */
};

/* Direction of a data event, seen from the monitored process. */
enum axs_dir {
	AXS_DIR_READ = 1,  /* the process received the bytes */
	AXS_DIR_WRITE = 2, /* the process sent the bytes */
};

/* Data event flags. */
enum axs_flags {
	/* The buffer starts no message: it continues one (a body) on a
	 * connection that carried HTTP; a message may follow within it. */
	AXS_F_CONT = 1,
};

/* Counters in axs_stats (per CPU; user space sums). */
enum axs_stat {
	AXS_STAT_RINGBUF_FULL = 0, /* events dropped: ring buffer full */
	AXS_STAT_HELD_FULL = 1,	   /* short reads not kept: axs_held full */
	/* 2: unused (was HTTP-looking bytes on an fd that is not a TCP socket) */
	AXS_STAT_READ_FAULT = 3, /* user buffer could not be read */
	AXS_STAT_EVENTS = 4,	 /* events sent */
};

/* axs_event is one ring-buffer record: a header and up to AXS_CAPTURE bytes
 * of the buffer (data event) or none (close event). Only cap bytes of data
 * are sent. seq numbers the events of one connection from 1, so user space
 * sees every lost event of a connection as a gap. */
struct axs_event {
	__u8 type;   /* enum axs_event_type */
	__u8 dir;    /* enum axs_dir; 0 for close */
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 flags;  /* AXS_F_* */
	__u16 lport; /* local port, host order */
	__u16 rport; /* remote port, host order */
	__u32 netns; /* network namespace inode of the calling task */
	__u32 tgid;
	__u32 seq;   /* per-connection event number, from 1 */
	__u32 total; /* bytes the syscall moved (read: ret; write: count) */
	__u32 cap;   /* bytes of data that follow */
	__u32 pad1;
	__u64 ts;	/* bpf_ktime_get_ns when the read or write has moved the bytes */
	__u64 conn;	/* connection identity (opaque, stable while open) */
	__u8 laddr[16]; /* IPv4 in the first 4 bytes, or IPv6 */
	__u8 raddr[16];
	__u8 data[AXS_CAPTURE];
};

/* axs_conn is what the observer keeps per connection that carried HTTP. */
struct axs_conn {
	__u32 seq; /* last event number sent */
	__u8 family;
	__u8 pad0;
	__u16 lport;
	__u16 rport;
	__u16 pad1;
	__u32 netns;	/* network namespace inode of the task that first moved HTTP on it */
	__u32 tgid;	/* and its process */
	__u32 held_len; /* bytes in held */
	__u8 laddr[16];
	__u8 raddr[16];
	/* The bytes of reads shorter than a message start, until the next
	 * read (as struct axs_held, for sockets that carried HTTP). */
	__u64 held;
};

enum axs_buf_kind {
	AXS_BUF_PLAIN = 0, /* buf is the data */
	AXS_BUF_IOV = 1,   /* buf is a struct iovec array: the first element */
	AXS_BUF_MSG = 2,   /* buf is a struct user_msghdr: its first iovec */
};

/* axs_held keeps the bytes of reads shorter than a message start, on
 * sockets that carried no HTTP yet (axs_conn keeps its own). */
struct axs_held {
	__u64 data; /* the bytes, little endian: first byte lowest; then zeros */
	__u32 len;
	__u32 pad;
};

/* Monitored network namespaces as a bitmap: bit (inode -
 * AXS_NETNS_DYN_FIRST) is set for a monitored one. Written by the agent;
 * the first thing the programs check after the syscall number. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AXS_NETNS_BITS / 64);
	__type(key, __u32);
	__type(value, __u64);
} axs_netns_bits SEC(".maps");

/* Monitored network namespaces whose inode is beyond the bitmap: inode ->
 * 1. Written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AXS_MAX_NETNS);
	__type(key, __u32);
	__type(value, __u32);
} axs_netns SEC(".maps");

/* Connections that carried HTTP, by kernel socket address: addresses and
 * the event counter. Written by the data programs, deleted at TCP_CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AXS_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct axs_conn);
} axs_conns SEC(".maps");

/* Bytes of short reads (under 8 bytes) of monitored tasks on sockets not in
 * axs_conns, by kernel socket address, until the socket's next read. Written and deleted by the
 * read programs, deleted at TCP_CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AXS_MAX_HELD);
	__type(key, __u64);
	__type(value, struct axs_held);
} axs_held SEC(".maps");

/* One event under construction per CPU (too large for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct axs_event);
} axs_scratch SEC(".maps");

/* Loss and activity counters, enum axs_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AXS_STATS);
	__type(key, __u32);
	__type(value, __u64);
} axs_stats SEC(".maps");

/* Data and close events for the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, AXS_EVENTS_BYTES);
} axs_events SEC(".maps");

#endif
