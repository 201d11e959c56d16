/*
 * Batched reply signing (issue 7, proto/README.md "Batched reply
 * signatures"). The replies that become ready in one turn of an event loop
 * wait here, packed; at the end of the turn (or, for fewer than
 * BATCH_WAIT_BELOW of them, after one more poll that does not wait, so the
 * requests that came meanwhile join them, and after more such polls while
 * they bring replies, BATCH_POLLS_MAX in all) they are signed together with
 * one Ed25519 signature over the root of a Merkle tree of their hashes, and
 * each is handed to its owner (a connection) as a finished frame carrying
 * its leaf index and path. A batch of one reply is signed directly, so a
 * lone request gets exactly the reply it got before batching. A long turn
 * (a burst of requests) does not hold all its replies to its end: a batch
 * of BATCH_WAIT_BELOW or more that has waited BATCH_AGE_MAX_US is signed
 * when the next reply comes, which starts a new one.
 *
 * Order: replies are handed over in the order they were added, so one
 * connection's replies keep the order of its requests.
 */
#ifndef KG_BATCH_H
#define KG_BATCH_H

#include <stddef.h>
#include <stdint.h>

struct batch;
struct daemon;
struct event_base;
struct wire_reply;

#define BATCH_REPLIES_MAX	256		/* a full batch is signed at once */
#define BATCH_BYTES_MAX		(1024 * 1024)	/* so is one of this many body bytes */
#define BATCH_WAIT_BELOW	32		/* a smaller one waits for one more poll */
#define BATCH_POLLS_MAX		4		/* ... or more, while they bring replies */
#define BATCH_AGE_MAX_US	500		/* a larger one is signed at this age */

/*
 * Hand one finished reply frame of len bytes to its owner; frame is NULL
 * when the batch could not be signed (the owner should close). The frame is
 * the batch's own buffer: copy it before returning.
 */
typedef void	(*batch_deliver_fn)(void *owner, const uint8_t *frame,
		    size_t len);

/*
 * A batch on base's loop signing with d's signer (which must outlive it).
 * Its closing event runs with d's shared state held shared. NULL
 * (logged) when out of memory.
 */
struct batch	*batch_new(struct daemon *d, struct event_base *base,
		    batch_deliver_fn deliver);

/* Sign and hand over what is pending, then free. NULL is fine. */
void		 batch_free(struct batch *b);

/*
 * Pack r's ReplyBody and queue it for owner; the batch is signed at the end
 * of this loop turn or after the next poll (see above), or first when it
 * is full or old. r's pointers may go away when this returns. 0, or -1
 * (logged, nothing queued) when out of memory.
 */
int		 batch_add(struct batch *b, void *owner, const struct wire_reply *r);

/*
 * Sign every queued reply now and hand each to its owner. Callers need not
 * call it: the loop does.
 */
void		 batch_flush(struct batch *b);

/* owner is gone: its queued replies are signed but handed to no one. */
void		 batch_forget(struct batch *b, const void *owner);

/*
 * A reply of owner's that was counted on could not be added (batch_add
 * failed): owner is handed a NULL frame at once, as for a batch that could
 * not be signed, so it closes rather than wait for it.
 */
void		 batch_lost(struct batch *b, void *owner);

#endif
