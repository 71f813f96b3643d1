/*
 * coap_msg.h - zero-copy CoAP message view and serializer (RFC 7252 framing;
 * RFC 8323 TCP/WebSocket framing comes with relay-tcp/relay-ws).
 * Owns nothing: a parsed struct coap_msg points into the caller's buffer.
 * Option headers are decoded and encoded with libcoap's coap_opt_parse() and
 * coap_opt_encode(); the message itself is handled here because libcoap 4.3.1
 * has no way to serialise a PDU without a session and allocates per PDU,
 * which the relay hot path must not do (docs/architecture.md).
 */
#ifndef RDRELAY_COAP_MSG_H
#define RDRELAY_COAP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#define COAP_MSG_MAX_OPTS 64
#define COAP_MSG_MAX_TOKEN 8
#define COAP_MSG_MAX_UDP 1500 /* largest datagram we build */

enum coap_msg_type { COAP_T_CON = 0, COAP_T_NON = 1, COAP_T_ACK = 2, COAP_T_RST = 3 };

/* Codes as class*32+detail, e.g. COAP_CODE(2,5) == 69 == 2.05 */
#define COAP_CODE(c, d) ((uint8_t)(((c) << 5) | (d)))
#define COAP_CODE_CLASS(code) ((code) >> 5)
#define COAP_CODE_DETAIL(code) ((code)&0x1f)
enum {
    COAP_EMPTY = 0,
    COAP_GET = 1,
    COAP_POST = 2,
    COAP_PUT = 3,
    COAP_DELETE = 4,
    COAP_FETCH = 5,
    COAP_PATCH = 6,
    COAP_IPATCH = 7,
    COAP_CREATED = COAP_CODE(2, 1),
    COAP_DELETED = COAP_CODE(2, 2),
    COAP_VALID = COAP_CODE(2, 3),
    COAP_CHANGED = COAP_CODE(2, 4),
    COAP_CONTENT = COAP_CODE(2, 5),
    COAP_CONTINUE = COAP_CODE(2, 31),
    COAP_BAD_REQUEST = COAP_CODE(4, 0),
    COAP_UNAUTHORIZED = COAP_CODE(4, 1),
    COAP_BAD_OPTION = COAP_CODE(4, 2),
    COAP_FORBIDDEN = COAP_CODE(4, 3),
    COAP_NOT_FOUND = COAP_CODE(4, 4),
    COAP_METHOD_NOT_ALLOWED = COAP_CODE(4, 5),
    COAP_NOT_ACCEPTABLE = COAP_CODE(4, 6),
    COAP_REQUEST_INCOMPLETE = COAP_CODE(4, 8),
    COAP_PRECONDITION_FAILED = COAP_CODE(4, 12),
    COAP_TOO_LARGE = COAP_CODE(4, 13),
    COAP_UNSUPPORTED_CF = COAP_CODE(4, 15),
    COAP_TOO_MANY_REQUESTS = COAP_CODE(4, 29), /* RFC 8516 */
    COAP_INTERNAL_ERROR = COAP_CODE(5, 0),
    COAP_BAD_GATEWAY = COAP_CODE(5, 2),
    COAP_SERVICE_UNAVAILABLE = COAP_CODE(5, 3),
    COAP_GATEWAY_TIMEOUT = COAP_CODE(5, 4),
    COAP_PROXYING_NOT_SUPPORTED = COAP_CODE(5, 5),
    COAP_HOP_LIMIT_REACHED = COAP_CODE(5, 8),
    /* RFC 8323 signals */
    COAP_SIG_CSM = COAP_CODE(7, 1),
    COAP_SIG_PING = COAP_CODE(7, 2),
    COAP_SIG_PONG = COAP_CODE(7, 3),
    COAP_SIG_RELEASE = COAP_CODE(7, 4),
    COAP_SIG_ABORT = COAP_CODE(7, 5),
};

/* Option numbers used by name in rdrelay (full registry: coap_opts.h). */
enum {
    COAP_OPT_IF_MATCH = 1,
    COAP_OPT_URI_HOST = 3,
    COAP_OPT_ETAG = 4,
    COAP_OPT_IF_NONE_MATCH = 5,
    COAP_OPT_OBSERVE = 6,
    COAP_OPT_URI_PORT = 7,
    COAP_OPT_LOCATION_PATH = 8,
    COAP_OPT_OSCORE = 9,
    COAP_OPT_URI_PATH = 11,
    COAP_OPT_CONTENT_FORMAT = 12,
    COAP_OPT_MAX_AGE = 14,
    COAP_OPT_URI_QUERY = 15,
    COAP_OPT_HOP_LIMIT = 16,
    COAP_OPT_ACCEPT = 17,
    COAP_OPT_Q_BLOCK1 = 19,
    COAP_OPT_LOCATION_QUERY = 20,
    COAP_OPT_EDHOC = 21,
    COAP_OPT_BLOCK2 = 23,
    COAP_OPT_BLOCK1 = 27,
    COAP_OPT_SIZE2 = 28,
    COAP_OPT_Q_BLOCK2 = 31,
    COAP_OPT_PROXY_URI = 35,
    COAP_OPT_PROXY_SCHEME = 39,
    COAP_OPT_SIZE1 = 60,
    COAP_OPT_ECHO = 252,
    COAP_OPT_NO_RESPONSE = 258,
    COAP_OPT_REQUEST_TAG = 292,
};

#define COAP_CF_LINK_FORMAT 40

struct coap_msg_opt {
    uint16_t num;
    uint16_t len;
    const uint8_t *val; /* points into the parsed buffer or caller-owned storage */
};

struct coap_msg {
    uint8_t type; /* enum coap_msg_type (UDP only) */
    uint8_t code;
    uint16_t msgid; /* UDP only */
    uint8_t tkl;
    uint8_t token[COAP_MSG_MAX_TOKEN];
    uint16_t nopts;
    struct coap_msg_opt opts[COAP_MSG_MAX_OPTS]; /* sorted by num, repeats in order */
    const uint8_t *payload;
    size_t payload_len;
};

/* Zero the view (type CON, code 0, no options, no payload). */
void coap_msg_init(struct coap_msg *m);

/* Parse an RFC 7252 datagram. 0 ok; -1 malformed (bad version, tkl > 8,
 * option past the end, payload marker with empty payload, too many options,
 * empty message with token/options/payload). */
int coap_msg_parse_udp(const uint8_t *buf, size_t len, struct coap_msg *m);

/* Serialise; returns the length written, or -1 if it does not fit. */
ssize_t coap_msg_serialize_udp(const struct coap_msg *m, uint8_t *buf, size_t cap);

/* RFC 8323 §3.2 framing (TCP; implemented in coap_msg_tcp.c). The message
 * type and message id fields of struct coap_msg are ignored.
 * coap_msg_tcp_frame_len: given the first bytes of a stream, the total length
 * of the first message; 0 if more bytes are needed to know; -1 if malformed.
 * coap_msg_parse_tcp: parse exactly one whole message of len bytes. */
ssize_t coap_msg_tcp_frame_len(const uint8_t *buf, size_t avail);
int coap_msg_parse_tcp(const uint8_t *buf, size_t len, struct coap_msg *m);
ssize_t coap_msg_serialize_tcp(const struct coap_msg *m, uint8_t *buf, size_t cap);
/* An RFC 8323 §5 signal into m: code (7.01 CSM, 7.02 Ping, ...) and the
 * token tok[0..tkl); a CSM announces Max-Message-Size mms, and
 * Block-Wise-Transfer (BERT) when bwt. mmsbuf holds the encoded size and
 * must outlive m. */
void coap_msg_signal(struct coap_msg *m, uint8_t code, const uint8_t *tok, uint8_t tkl,
                     uint32_t mms, bool bwt, uint8_t mmsbuf[4]);
/* RFC 8323 §4 WebSocket framing: as TCP but Len=0 and no extended length. */
int coap_msg_parse_ws(const uint8_t *buf, size_t len, struct coap_msg *m);
ssize_t coap_msg_serialize_ws(const struct coap_msg *m, uint8_t *buf, size_t cap);

/* First option with that number, or NULL; coap_msg_find_next continues after prev. */
const struct coap_msg_opt *coap_msg_find(const struct coap_msg *m, uint16_t num);
const struct coap_msg_opt *coap_msg_find_next(const struct coap_msg *m,
                                              const struct coap_msg_opt *prev);
/* Decode an option's uint value (0..4 bytes); def if the option is absent. */
uint32_t coap_msg_opt_uint(const struct coap_msg *m, uint16_t num, uint32_t def);
uint32_t coap_opt_value_uint(const struct coap_msg_opt *o);

/* Insert an option keeping the list sorted (after existing ones with the same
 * number). val is not copied. 0, or -1 when full. */
int coap_msg_add_opt(struct coap_msg *m, uint16_t num, const void *val, uint16_t len);
/* Encode v minimally into buf (>= 4 bytes) and add it; buf must outlive m. */
int coap_msg_add_opt_uint(struct coap_msg *m, uint16_t num, uint32_t v, uint8_t *buf);
/* Remove every option with that number; returns how many were removed. */
int coap_msg_remove_opt(struct coap_msg *m, uint16_t num);

/* Join all Uri-Path options as "/a/b" (just "/" if none) into out; 0 / -1 if
 * it does not fit. Likewise Uri-Host into a lower-cased string (empty if absent). */
int coap_msg_uri_path(const struct coap_msg *m, char *out, size_t outlen);
int coap_msg_uri_host_lower(const struct coap_msg *m, char *out, size_t outlen);

/* "2.05" style text for logs and tests. */
const char *coap_code_str(uint8_t code, char buf[8]);

/* Block option helpers (RFC 7959): num, more, szx <-> value. */
uint32_t coap_block_encode(uint32_t num, bool more, unsigned szx);
void coap_block_decode(uint32_t v, uint32_t *num, bool *more, unsigned *szx);

#endif
