/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map size and bound of the socket-level observer (axon_sock.c) in one
 * place. Go reads them back through the generated bindings' BTF
 * (agent/observe checks them). */
#ifndef AXS_SOCK_SIZING_H
#define AXS_SOCK_SIZING_H

/* Namespace inode numbers from AXS_NETNS_DYN_FIRST (the kernel's first
 * dynamic proc inode) on index the monitored-namespace bitmap; static ones
 * below it belong to the initial (host) namespaces. */
#define AXS_NETNS_DYN_FIRST 0xF0000000U
#define AXS_NETNS_BITS	    (1 << 20) /* bitmap bits: 128 KiB */
#define AXS_MAX_NETNS	    4096      /* monitored network namespaces */
#define AXS_MAX_HELD	    16384     /* sockets with the bytes of a short read kept (LRU) */
#define AXS_MAX_CONNS	    65536     /* connections seen carrying HTTP (LRU) */
#define AXS_CAPTURE	    2048      /* bytes copied from a message-start buffer (power of two) */
#define AXS_EVENTS_BYTES    (1 << 22) /* ring buffer */
#define AXS_WAKEUP_BYTES    (1 << 18) /* ring-buffer bytes waiting before the reader is woken */
#define AXS_WAKEUP_EVERY    16	      /* events a CPU sends between ring checks (power of 2) */
#define AXS_STATS	    8	      /* loss and activity counters, enum axs_stat */

#endif
