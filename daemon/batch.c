/*
 * Batched reply signing: see batch.h. The bodies of one turn are packed one
 * after another into a buffer that is kept from turn to turn, so a reply
 * costs no allocation of its own once the buffers have grown to the load;
 * each finished frame is built in one scratch buffer and copied into its
 * connection's output by the owner's deliver function.
 *
 * The end of the turn: the first reply of a batch makes the batch's event
 * active. libevent runs active events of one priority in the order they
 * became active, and every socket that epoll reported ready in this turn was
 * made active before the first callback ran, so the batch's event runs after
 * the read callbacks of this turn and before the next poll. There a batch
 * of BATCH_WAIT_BELOW replies or more is signed; a smaller one waits for
 * one more poll, which does not wait (the event is added again with a
 * timeout of zero): libevent makes the sockets that poll found ready active
 * before the due timer, so the requests that came while the turn was served
 * join the batch. While each such poll brings replies the batch waits for
 * another, BATCH_POLLS_MAX in all; then it is signed. An idle server pays
 * one poll that finds nothing. At 32 busy connections on 2 cores one poll
 * grew the batch from about 18 replies to 22, and polling on while it
 * grows to 25 (about 0.17 us less CPU a check; at 1,000 connections and
 * half the maximum rate about 0.9 us less, the batches there being
 * smaller). A large batch gains little from waiting (its signature is
 * already shared widely) while its replies would wait the longest, hence
 * the bound. A batch that is full (BATCH_REPLIES_MAX replies or
 * BATCH_BYTES_MAX body bytes) is signed before another reply joins it,
 * which bounds both the memory and the wait.
 *
 * So is one of BATCH_WAIT_BELOW replies or more whose first has waited
 * BATCH_AGE_MAX_US: a turn that serves a burst (the requests a client sent
 * at once after a pause of its own, or those that came while keygated was
 * kept off its CPU) would otherwise answer all of them only at its end,
 * each waiting for the whole burst's work. At 1,000 connections and half
 * the maximum rate this halved the p99; at 32 connections batches stay
 * under BATCH_WAIT_BELOW and never look at the clock, and at saturation
 * batches shrink from about 200 replies to about 130 (a few per cent of
 * throughput). The clock is read once per batch, and per reply only past
 * BATCH_WAIT_BELOW.
 *
 * An act redemption's reply is added only after the group commit that
 * makes it durable (renew.c), in the turn that learns of the commit; its
 * connection answers nothing else meanwhile, so its replies keep their
 * order (conn.c).
 *
 * One signature per batch is the point: signing goes to the signer process
 * (a round trip over a socket and an Ed25519 signature, by far the largest
 * cost of a reply), while hashing a leaf and its path costs about a
 * microsecond.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "batch.h"
#include "daemon.h"
#include "keys.h"
#include "log.h"
#include "merkle.h"
#include "metrics.h"
#include "signer.h"
#include "wire.h"

struct batch_item {
	void	*owner;		/* NULL: forgotten */
	size_t	 off;		/* the body in b->body */
	size_t	 len;
};

struct batch {
	struct daemon		*d;
	struct signer		*signer;
	batch_deliver_fn	 deliver;
	struct event		*ev;
	struct batch_item	 item[BATCH_REPLIES_MAX];
	size_t			 n;
	uint8_t			*body;		/* the bodies, one after another */
	size_t			 bodylen, bodycap;
	uint8_t			*frame;		/* scratch for one frame */
	size_t			 framecap;
	uint8_t			 leaf[BATCH_REPLIES_MAX][KG_MERKLE_HASH_LEN];
	struct kg_merkle	*tree;
	bool			 flushing;
	unsigned		 polls;		/* waited for so far */
	size_t			 polled_n;	/* n when the last of them was asked */
	uint64_t		 first_ns;	/* CLOCK_MONOTONIC: item 0 added */
};

static uint64_t
batch_clock_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A batch waiting for one more poll is due at once (see the top). */
static const struct timeval	batch_next_poll = { 0, 0 };

static void
batch_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct batch	*b = arg;

	(void)fd;
	(void)what;
	if (b->n > 0 && b->n < BATCH_WAIT_BELOW &&
	    (b->polls == 0 || (b->n > b->polled_n &&
	    b->polls < BATCH_POLLS_MAX)) &&
	    event_add(b->ev, &batch_next_poll) == 0) {
		b->polls++;
		b->polled_n = b->n;
		return;
	}
	daemon_shared_enter(b->d);
	batch_flush(b);
	daemon_shared_leave(b->d);
}

/* A batch on base's loop: see batch.h. */
struct batch *
batch_new(struct daemon *d, struct event_base *base, batch_deliver_fn deliver)
{
	struct batch	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->tree = malloc(sizeof(*b->tree))) == NULL) {
		log_error("%s: out of memory", __func__);
		free(b);
		return NULL;
	}
	if ((b->ev = event_new(base, -1, 0, batch_event_cb, b)) == NULL) {
		log_error("%s: event_new failed", __func__);
		free(b->tree);
		free(b);
		return NULL;
	}
	b->d = d;
	b->signer = d->signer;
	b->deliver = deliver;
	return b;
}

/* Sign what is pending, then free: see batch.h. */
void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	batch_flush(b);
	event_free(b->ev);
	free(b->body);
	free(b->frame);
	free(b->tree);
	free(b);
}

/* Make room for need more bytes in *buf of *cap. 0 or -1. */
static int
batch_reserve_bytes(uint8_t **buf, size_t *cap, size_t used, size_t need)
{
	uint8_t	*p;
	size_t	 n;

	if (*cap - used >= need)
		return 0;
	n = *cap == 0 ? 4096 : *cap;
	while (n - used < need)
		n *= 2;
	if ((p = realloc(*buf, n)) == NULL)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/* A new item for owner, the batch signed first when it is full. NULL when none. */
static struct batch_item *
batch_item_new(struct batch *b, void *owner)
{
	struct batch_item	*it;

	if (!b->flushing &&
	    (b->n == BATCH_REPLIES_MAX || b->bodylen >= BATCH_BYTES_MAX ||
	    (b->n >= BATCH_WAIT_BELOW &&
	    batch_clock_ns() - b->first_ns >= BATCH_AGE_MAX_US * 1000u)))
		batch_flush(b);
	if (b->n == BATCH_REPLIES_MAX) {
		log_error("%s: a full batch while it is being signed", __func__);
		return NULL;
	}
	it = &b->item[b->n++];
	memset(it, 0, sizeof(*it));
	it->owner = owner;
	if (b->n == 1) {
		b->first_ns = batch_clock_ns();
		event_active(b->ev, 0, 0);
	}
	return it;
}

/* Pack r's body at the end of the bodies for it. 0 or -1. */
static int
batch_pack(struct batch *b, struct batch_item *it, const struct wire_reply *r)
{
	size_t	max;

	/* Packed once, into room from a bound (sizing costs a packing). */
	max = wire_reply_body_max(r);
	if (batch_reserve_bytes(&b->body, &b->bodycap, b->bodylen, max) == -1) {
		log_error("%s: out of memory for a reply of %zu bytes",
		    __func__, max);
		return -1;
	}
	it->off = b->bodylen;
	it->len = wire_reply_body_pack(r, b->body + b->bodylen);
	if (it->len > max) {
		/* The bound missed a field: memory is no longer ours. */
		log_error("%s: a reply body of %zu bytes, over its bound of "
		    "%zu", __func__, it->len, max);
		abort();
	}
	b->bodylen += it->len;
	return 0;
}

/* Queue r's body for owner: see batch.h. */
int
batch_add(struct batch *b, void *owner, const struct wire_reply *r)
{
	struct batch_item	*it;

	if (b->flushing) {
		log_error("%s: a reply added while the batch is being signed",
		    __func__);
		return -1;
	}
	if ((it = batch_item_new(b, owner)) == NULL)
		return -1;
	if (batch_pack(b, it, r) == -1) {
		b->n--;
		return -1;
	}
	return 0;
}

/* Frame item i's body with its signature and hand it over. */
static void
batch_deliver(struct batch *b, size_t i, struct wire_signed *ws)
{
	struct batch_item	*it = &b->item[i];
	size_t			 len;

	if (it->owner == NULL)
		return;
	ws->body = b->body + it->off;
	ws->bodylen = it->len;
	len = wire_reply_frame_max(ws);
	if (batch_reserve_bytes(&b->frame, &b->framecap, 0, len) == -1) {
		log_error("%s: out of memory for a frame of %zu bytes",
		    __func__, len);
		b->deliver(it->owner, NULL, 0);
		return;
	}
	len = wire_reply_frame_pack(ws, b->frame);
	b->deliver(it->owner, b->frame, len);
}

/* Sign n > 1 bodies with one signature over their Merkle root. -1 on failure. */
static int
batch_sign_tree(struct batch *b, uint8_t sig[KG_SIG_LEN])
{
	size_t	i;

	for (i = 0; i < b->n; i++)
		merkle_leaf_hash(b->body + b->item[i].off, b->item[i].len,
		    b->leaf[i]);
	if (merkle_build(b->tree, (const uint8_t (*)[KG_MERKLE_HASH_LEN])b->leaf,
	    b->n) == -1)
		return -1;
	return signer_sign(b->signer, KG_DOMAIN_REPLY_BATCH, merkle_root(b->tree),
	    KG_MERKLE_HASH_LEN, sig);
}

/* Sign every queued reply now: see batch.h. */
void
batch_flush(struct batch *b)
{
	struct wire_signed	ws;
	uint8_t			sig[KG_SIG_LEN];
	uint8_t			path[KG_MERKLE_DEPTH_MAX][KG_MERKLE_HASH_LEN];
	size_t			i;
	int			rc, depth;

	if (b->n == 0 || b->flushing)
		return;
	/* Nothing may be added from here on, and flushes do not nest. */
	b->flushing = true;
	event_del(b->ev);
	memset(&ws, 0, sizeof(ws));
	ws.sig = sig;
	if (b->n == 1)
		rc = signer_sign(b->signer, KG_DOMAIN_REPLY, b->body + b->item[0].off,
		    b->item[0].len, sig);
	else
		rc = batch_sign_tree(b, sig);
	/* The key that signed: read after signing, a rotation may have come. */
	ws.key_id = signer_key_id(b->signer);
	if (rc != 0) {
		log_error("%s: cannot sign a batch of %zu replies", __func__, b->n);
		for (i = 0; i < b->n; i++)
			if (b->item[i].owner != NULL)
				b->deliver(b->item[i].owner, NULL, 0);
	} else if (b->n == 1) {
		batch_deliver(b, 0, &ws);
	} else {
		ws.path = (const uint8_t (*)[KG_MERKLE_HASH_LEN])path;
		for (i = 0; i < b->n; i++) {
			depth = merkle_path(b->tree, i, path);
			ws.index = (uint32_t)i;
			ws.depth = depth < 0 ? 0 : (size_t)depth;
			batch_deliver(b, i, &ws);
		}
	}
	if (rc == 0)
		metrics_count_batch(b->n);
	b->n = 0;
	b->bodylen = 0;
	b->flushing = false;
	b->polls = 0;
	b->polled_n = 0;
}

/* owner is gone: see batch.h. */
void
batch_forget(struct batch *b, const void *owner)
{
	size_t	i;

	for (i = 0; i < b->n; i++)
		if (b->item[i].owner == owner)
			b->item[i].owner = NULL;
}

/* A reply owner waits for could not be added: see batch.h. */
void
batch_lost(struct batch *b, void *owner)
{
	b->deliver(owner, NULL, 0);
}
