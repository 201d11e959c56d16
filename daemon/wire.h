/*
 * The public TCP wire (SPEC section 4, proto/keygate.proto): frame headers,
 * request decoding and validation, signed reply frames. No sockets and no
 * daemon state, so every function here can be fed arbitrary bytes (unit
 * tests, fuzzing).
 *
 * A frame is a 4-byte big-endian length and that many bytes of one protobuf
 * message. A request's length is checked against the limit from its 4 header
 * bytes alone, before anything more is read or allocated.
 */
#ifndef KG_WIRE_H
#define KG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "keygate.pb-c.h"
#include "kglimits.h"
#include "pbarena.h"
#include "policy.h"

struct signer;

#define WIRE_HEADER_LEN		4

/* What a frame header says (wire_frame_length). */
enum wire_frame {
	WIRE_FRAME_OK,		/* *len is the message length, 1..frame_max */
	WIRE_FRAME_NEED_MORE,	/* fewer than WIRE_HEADER_LEN bytes so far */
	WIRE_FRAME_EMPTY,	/* length 0: no message at all */
	WIRE_FRAME_TOO_LARGE,	/* length above frame_max (*len says how much) */
};

/*
 * Read a frame header from the avail bytes at buf. Looks at no more than
 * WIRE_HEADER_LEN bytes. *len is set for WIRE_FRAME_OK, WIRE_FRAME_EMPTY and
 * WIRE_FRAME_TOO_LARGE.
 */
enum wire_frame	wire_frame_length(const uint8_t *buf, size_t avail,
		    uint32_t frame_max, uint32_t *len);

/* How far a request got (wire_request_decode). */
enum wire_decode {
	WIRE_DECODE_OK,		/* a valid request: req->msg */
	WIRE_DECODE_INVALID,	/* a Request with a bad field: answer, keep the connection */
	WIRE_DECODE_UNREADABLE,	/* not a Request at all: answer, then close */
};

/* The bytes of a decoded request kept in the request itself. */
#define WIRE_ARENA_BYTES	2048

/* One decoded request. Fill with wire_request_decode, release with wire_request_clear. */
struct wire_request {
	Keygate__Request	*msg;		/* NULL unless readable */
	uint8_t			 hash[KG_HASH_LEN];	/* BLAKE2b-256 of the message bytes */
	uint8_t			 nonce[KG_NONCE_MAX];	/* echoed in the reply */
	size_t			 nonce_len;	/* 0 when absent or over KG_NONCE_MAX */
	enum kg_reason		 reason;	/* KG_REASON_OK or the Error reply's reason */
	const char		*detail;	/* static text for the Error reply, or "" */
	/*
	 * Protobuf-c's allocations for the request: from arena_buf first (a
	 * usual request needs no heap at all), then malloc, all of them
	 * charged against a budget. An allocation beyond the budget fails,
	 * and so does the unpack: a frame of many tiny unknown fields cannot
	 * make the daemon allocate more than the budget.
	 */
	struct pb_arena		 arena;
	uint8_t			 arena_buf[WIRE_ARENA_BYTES];
};

/*
 * The budget wire_request_decode should get for frames of at most frame_max
 * bytes: 4 * frame_max, at least 16 KiB.
 */
size_t	wire_budget_for(uint32_t frame_max);

/*
 * Decode and validate the len bytes of one request message (the frame
 * without its header), allocating at most budget bytes. Always sets
 * req->hash; sets req->nonce when the message has one of at most
 * KG_NONCE_MAX bytes. Checks, in order: the bytes are a Request
 * (UNREADABLE, bad_request), protocol == KG_PROTOCOL_VERSION
 * (protocol_version), a nonce of KG_NONCE_MIN..KG_NONCE_MAX bytes, a body,
 * and the body's string fields within their limits (bad_request).
 * req->msg stays set for INVALID so callers may log the request type.
 */
enum wire_decode	wire_request_decode(const uint8_t *buf, size_t len,
			    size_t budget, struct wire_request *req);

/* Free what wire_request_decode unpacked; req may be decoded again after. */
void	wire_request_clear(struct wire_request *req);

/* "check", "status", "activate", "rotations" or "none". */
const char	*wire_request_type(const Keygate__Request *msg);

/* Everything a reply body says besides its protocol version. */
struct wire_reply {
	const uint8_t		*nonce;		/* NULL or nonce_len bytes */
	size_t			 nonce_len;
	const uint8_t		*request_hash;	/* NULL or KG_HASH_LEN bytes */
	int64_t			 server_time;	/* Unix seconds */
	bool			 test_clock;
	Keygate__Verdict	*verdict;	/* the result, or NULL for ... */
	Keygate__Rotations	*rotations;	/* ... this one, or NULL for an error: */
	const char		*error_reason;	/* reason code of the Error reply */
	const char		*error_detail;	/* NULL or human text */
};

/*
 * ReplyBody{protocol, nonce, request_hash, server_time, test_clock, verdict,
 * rotations or error} of r: its packed size, and packing it into out (that
 * many bytes; returns the bytes written).
 */
size_t	wire_reply_body_size(const struct wire_reply *r);
size_t	wire_reply_body_pack(const struct wire_reply *r, uint8_t *out);

/*
 * At least wire_reply_body_size(r), from the lengths of r's texts alone
 * (nothing encoded; a rotations list is sized exactly): room enough to
 * pack into, for the work of a few strlen calls. It names every field of
 * ReplyBody, Verdict, Quote, Renewal and Error; test_wire fails when
 * keygate.proto gives one of them a field this does not know.
 */
size_t	wire_reply_body_max(const struct wire_reply *r);

/*
 * A packed ReplyBody and its signature: direct (depth 0, index 0: sig is
 * over "keygate-reply-v1\0" || body) or batched (sig over the batch domain
 * and a Merkle root; index and the depth sibling hashes of path lead from
 * the body's leaf to it).
 */
struct wire_signed {
	const uint8_t	*body;
	size_t		 bodylen;
	const uint8_t	*sig;		/* KG_SIG_LEN bytes */
	const uint8_t	*key_id;	/* KG_KEY_ID_LEN bytes */
	uint32_t	 index;
	const uint8_t	(*path)[32];	/* depth hashes, KG_MERKLE_HASH_LEN each */
	size_t		 depth;		/* at most KG_MERKLE_DEPTH_MAX */
};

/*
 * The frame of Reply{body, signature, key_id, batch_index, batch_path}: at
 * least its size with the header (a bound from the field lengths, without
 * encoding anything), and packing it into out (that many bytes; returns
 * the bytes written, header included).
 */
size_t	wire_reply_frame_max(const struct wire_signed *ws);
size_t	wire_reply_frame_pack(const struct wire_signed *ws, uint8_t *out);

/*
 * Build r's body, sign it directly with signer_sign(KG_DOMAIN_REPLY) and
 * frame it. *frame is malloc'd (caller frees), *len includes the header.
 * 0, or -1 (logged) with *frame NULL.
 */
int	wire_reply_encode(struct signer *s, const struct wire_reply *r,
	    uint8_t **frame, size_t *len);

#endif
