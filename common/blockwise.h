/*
 * blockwise.h - block-wise transfers (RFC 7959) across transports: what a
 * relay needs when a client's transport carries smaller messages than the
 * origin's (a UDP client, a TCP or WebSocket origin) or the other way round.
 * Owns:
 *   - Block2 slicing (pure): the block a client asked for, cut out of an
 *     origin's unblocked answer or out of a larger block of its own (BERT,
 *     or one that does not fit a datagram). Nothing is kept between blocks:
 *     every Block2 request travels to the origin again and the block is cut
 *     from that answer, so an ETag change reaches the client with the very
 *     block it affects (docs/architecture.md, "Block-wise across
 *     transports");
 *   - Block1 assembly and splitting, and the copy of an answer to a
 *     non-safe request that must not run again per block, over one
 *     bounded store: `nslots` bodies
 *     of at most `body_max` bytes each, allocated once by bw_store_init
 *     (block_slots x block_body_max; config.h), plus two scratch buffers for
 *     serialising an assembled request. A slot is keyed by a 64-bit key
 *     (bw_key: client, host, method and request options) and is free again
 *     after bw_release or after timeout_ms without a new block.
 * Independent of the relays' structs: it sees struct coap_msg and bytes.
 * Talks to coap_msg.h only.
 */
#ifndef RDRELAY_BLOCKWISE_H
#define RDRELAY_BLOCKWISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coap_msg.h"

#define BW_NONE UINT32_MAX
#define BW_SZX_UDP 6 /* 1024-byte blocks: the largest that fits a datagram */
#define BW_BLOCK_SIZE(szx) ((size_t)1 << ((szx) + 4))
#define BW_SCRATCH_EXTRA 2048 /* options and envelope around a body_max payload */

/* ---- Block2 slicing (pure) ---- */

struct bw_slice {
    size_t off, len; /* within the representation */
    uint32_t block2; /* Block2 value of the cut block */
};

/*
 * Cut block (num, szx) out of a chunk of a representation: chunk_len bytes
 * at chunk_off, more_after when the origin has bytes after them. szx 7
 * (BERT) counts as 6. 0, or -1 when the block does not start inside the
 * chunk (an empty representation has block 0 only).
 */
int bw_slice2(size_t chunk_off, size_t chunk_len, bool more_after, uint32_t num, unsigned szx,
              struct bw_slice *out);

/*
 * Fit an origin's response m (raw_len bytes in its own framing) to a client
 * whose messages are at most cap bytes, for a request with Block2 value
 * req_block2 (BW_NONE: none). Cuts when the answer does not fit, or when
 * the client asked for a block and the origin answered unblocked with more
 * than that block. The cut keeps every option (ETag included) but Block2
 * and, for an unblocked answer, Size2 (set to the whole length), using the
 * client's block size or a smaller one that fits. Returns the length
 * written to out, 0 when m passes unchanged, -1 when it cannot be cut
 * (errno EMSGSIZE) and -2 when the requested block lies beyond the
 * representation (answer 4.02). m is modified only when out is written.
 */
ssize_t bw_fit_response(struct coap_msg *m, size_t raw_len, uint32_t req_block2, uint8_t *out,
                        size_t cap);

/* ---- Block1 (store) ---- */

struct bw_slot {
    uint64_t key;
    uint64_t last_ms; /* last block (expiry) */
    uint32_t len;     /* bytes collected / held */
    bool used;
};

struct bw_store {
    struct bw_slot *slots;
    uint8_t *mem;     /* nslots x body_max */
    uint8_t *scratch; /* 2 x (body_max + BW_SCRATCH_EXTRA) */
    uint32_t nslots, body_max, timeout_ms;
};

enum bw_verdict {
    BW_CONTINUE = 0, /* block stored: answer 2.31 Continue */
    BW_DONE,         /* last block: the whole body is in the slot */
    BW_INCOMPLETE,   /* out of order, or no earlier blocks: 4.08 */
    BW_TOO_LARGE,    /* more than body_max: 4.13 with Size1 = body_max */
    BW_BUSY,         /* every slot in use: 5.03 */
    BW_BAD,          /* malformed block (size does not match szx): 4.00 */
};

/* Allocate nslots bodies of body_max bytes once (nslots 0: every upload
 * gets BW_BUSY). 0 / -1. */
int bw_store_init(struct bw_store *st, uint32_t nslots, uint32_t body_max, uint32_t timeout_ms);
void bw_store_free(struct bw_store *st);
/* Scratch buffer 0 or 1, body_max + BW_SCRATCH_EXTRA bytes each, for
 * serialising an assembled request and its envelope. */
uint8_t *bw_scratch(const struct bw_store *st, int which, size_t *cap);

/* The key of a block-wise request: salt (who asks: the client's address,
 * the host) and the method and every option but Block1/2, Size1/2,
 * Hop-Limit and OSCORE (which change from block to block). */
uint64_t bw_key(const struct coap_msg *m, const void *salt, size_t saltlen);

/* One Block1 block (value block1, payload p/n) of the upload under key.
 * *slot is set for BW_CONTINUE and BW_DONE; a failed upload is forgotten. */
enum bw_verdict bw_collect(struct bw_store *st, uint64_t key, uint32_t block1, const uint8_t *p,
                           size_t n, uint64_t now_ms, uint32_t *slot);
/* Copy a whole body into a free slot (for splitting); BW_NONE when busy or
 * too large (*why says which). */
uint32_t bw_hold(struct bw_store *st, uint64_t key, const uint8_t *body, size_t len,
                 uint64_t now_ms, enum bw_verdict *why);
/* The live slot of key, or BW_NONE. */
uint32_t bw_find(struct bw_store *st, uint64_t key, uint64_t now_ms);
/* The slot's body, if the slot still belongs to key (NULL otherwise). */
const uint8_t *bw_body(const struct bw_store *st, uint32_t slot, uint64_t key, uint32_t *len);
void bw_touch(struct bw_store *st, uint32_t slot, uint64_t now_ms);
void bw_release(struct bw_store *st, uint32_t slot);

/* ---- Block1 splitting (pure) ---- */

/* Make m carry block (num, szx) of body (total bytes): payload slice,
 * Block1 and Size1 options (values in optbuf, >= 8 bytes, must outlive m).
 * 0, or -1 when the block starts past the end or m has no room. */
int bw_set_block1(struct coap_msg *m, const uint8_t *body, size_t total, uint32_t num, unsigned szx,
                  uint8_t *optbuf);
/* After a 2.31 Continue with Block1 value answer for our block sent: the
 * next block (RFC 7959 §2.3: the server may ask for a smaller size). 0, or
 * -1 when the answer does not acknowledge the block we sent. */
int bw_next_block1(uint32_t sent, uint32_t answer, uint32_t *num, unsigned *szx);

#endif
