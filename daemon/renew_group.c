/*
 * Group commit of act redemptions (renew.h): the activate requests of one
 * event-loop turn wait in the loop's queue, each with its reply's place
 * kept in the loop's batch, and are redeemed together, in one durable
 * write transaction, when the batch is signed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "daemon.h"
#include "kgerr.h"
#include "license.h"
#include "log.h"
#include "metrics.h"
#include "renew_int.h"
#include "signer.h"
#include "store.h"
#include "wire.h"

/*
 * Park job in the loop's queue with a place kept for its reply. 0, or -1
 * when it cannot wait (then it is redeemed at once).
 */
int
renew_defer(const struct request_ctx *rc, const struct renew_job *job)
{
	struct renew_queue	*q = rc->loop->renew;
	struct renew_job	*nj;
	size_t			 cap, slot;

	if (q->n == q->cap) {
		cap = q->cap == 0 ? 16 : q->cap * 2;
		if ((nj = reallocarray(q->job, cap, sizeof(*nj))) == NULL)
			return -1;
		q->job = nj;
		q->cap = cap;
	}
	/* This may sign a full batch first, and redeem what waits in it. */
	if (batch_reserve(q->batch, rc->owner, &slot) == -1)
		return -1;
	nj = &q->job[q->n++];
	*nj = *job;
	nj->slot = slot;
	memcpy(nj->nonce, rc->req->nonce, rc->req->nonce_len);
	nj->nonce_len = rc->req->nonce_len;
	memcpy(nj->hash, rc->req->hash, KG_HASH_LEN);
	return 0;
}

/*
 * Group commit across the worker threads, leader and followers: at the end
 * of its turn each worker puts its queue on the waiting list; the first
 * that finds no leader at work leads: it takes every queue waiting, redeems
 * all their requests in one transaction, and wakes the others, which then
 * answer their own requests. A worker that comes while a commit runs waits
 * for the next one, which takes everything that came meanwhile.
 *
 * The leader's scratch lives here (there is one leader at a time): the
 * requests in one array for act_redeem_many, their jobs, and the renewed
 * licenses' payloads and signatures.
 */
static struct {
	pthread_mutex_t		  lock;
	pthread_cond_t		  done;
	bool			  leading;
	struct renew_queue	 *waiting;	/* through renew_queue.next */
	struct daemon		 *d;		/* the leader's round: */
	size_t			  n, cap;
	struct store_redeem	 *req;
	struct renew_job	**job;
	uint8_t			(*payload)[KG_PAYLOAD_MAX];
	const uint8_t		**p;
	size_t			 *len;
	size_t			 *who;		/* index in req and job */
	uint8_t			(*sig)[KG_SIG_LEN];
	uint64_t		  ticket[SIGNER_MANY_INFLIGHT];
	size_t			  first[SIGNER_MANY_INFLIGHT + 1];	/* chunks of p */
	size_t			  nticket;
} grp = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

/* Room for n requests in the leader's scratch. 0 or -1. */
static int
renew_round_reserve(size_t n)
{
	size_t	cap;

	if (n <= grp.cap)
		return 0;
	cap = grp.cap == 0 ? BATCH_REPLIES_MAX : grp.cap;
	while (cap < n)
		cap *= 2;
#define GROW(f) do {							\
	void	*p_ = reallocarray(grp.f, cap, sizeof(*grp.f));		\
	if (p_ == NULL)							\
		return -1;						\
	grp.f = p_;							\
} while (0)
	GROW(req);
	GROW(job);
	GROW(payload);
	GROW(p);
	GROW(len);
	GROW(who);
	GROW(sig);
#undef GROW
	grp.cap = cap;
	return 0;
}

/*
 * Before the group's commit (act_redeem_many's before_commit): send the
 * renewed licenses' payloads to the signer process, so that it signs them
 * on the other core while the commit writes to disk. Keys that do not fit
 * SIGNER_MANY_INFLIGHT requests, or a failed request, are left to
 * renew_reply, which signs them one at a time.
 */
static void
renew_sign_submit(void *arg)
{
	struct signer	*signer = grp.d->signer;
	size_t		 i, m = 0, k, total;

	(void)arg;
	/* A retried transaction (the map grew): drop the first attempt's. */
	for (i = 0; i < grp.nticket; i++)
		signer_many_cancel(signer, grp.ticket[i]);
	grp.nticket = 0;
	for (i = 0; i < grp.n; i++) {
		if (grp.req[i].err != STORE_OK)
			continue;
		memcpy(grp.job[i]->ctx.next.lic.key_id, signer_key_id(signer),
		    KG_KEY_ID_LEN);
		if (license_payload_pack(&grp.job[i]->ctx.next.lic,
		    grp.payload[m], KG_PAYLOAD_MAX, &grp.len[m]) != KGE_OK)
			continue;
		grp.p[m] = grp.payload[m];
		grp.who[m++] = i;
	}
	grp.first[0] = 0;
	while (grp.first[grp.nticket] < m && grp.nticket < SIGNER_MANY_INFLIGHT) {
		i = grp.first[grp.nticket];
		for (k = 0, total = 0; i + k < m && k < SIGNER_MANY_MAX &&
		    signer_many_fits(k + 1, total + grp.len[i + k]); k++)
			total += grp.len[i + k];
		if (k == 0 || signer_many_submit(signer, &grp.p[i], &grp.len[i],
		    k, &grp.ticket[grp.nticket]) != 0)
			break;
		grp.first[++grp.nticket] = i + k;
	}
}

/*
 * After the commit: collect the signatures and give each renewed job its
 * key text (only those the commit made durable; the others are dropped).
 */
static void
renew_sign_collect(void)
{
	size_t	t, i, lo, hi;

	for (t = 0; t < grp.nticket; t++) {
		lo = grp.first[t];
		hi = grp.first[t + 1];
		if (signer_many_collect(grp.d->signer, grp.ticket[t],
		    &grp.sig[lo], hi - lo) == -1)
			continue;
		for (i = lo; i < hi; i++)
			if (grp.req[grp.who[i]].err == STORE_OK)
				(void)license_key_format(grp.p[i], grp.len[i],
				    grp.sig[i], &grp.job[grp.who[i]]->key_text);
	}
	grp.nticket = 0;
}

/* The leader: redeem the requests of every queue in list in one transaction. */
static void
renew_round_commit(struct daemon *d, struct renew_queue *list)
{
	struct store		*st = d->store;
	struct renew_queue	*q;
	size_t			 i, n = 0;

	for (q = list; q != NULL; q = q->next)
		n += q->n;
	if (renew_round_reserve(n) == -1) {
		log_error("%s: out of memory for %zu redemptions", __func__, n);
		for (q = list; q != NULL; q = q->next)
			for (i = 0; i < q->n; i++) {
				q->job[i].r.err = STORE_IO;
				q->job[i].r.reason = KG_REASON_INTERNAL;
			}
		return;
	}
	grp.d = d;
	grp.n = 0;
	for (q = list; q != NULL; q = q->next)
		for (i = 0; i < q->n; i++) {
			renew_job_request(d, &q->job[i], &grp.req[grp.n]);
			grp.job[grp.n++] = &q->job[i];
		}
	grp.nticket = 0;
	if (st->ops->act_redeem_many(st, grp.req, grp.n, renew_sign_submit,
	    NULL) == STORE_OK)
		metrics_count_group(grp.n);
	renew_sign_collect();
	for (i = 0; i < grp.n; i++)
		grp.job[i]->r = grp.req[i];
}

/* Redeem every parked activate request (the batch's prepare): see above. */
static void
renew_queue_flush(void *arg)
{
	struct renew_queue	*q = arg, *list, *x;
	struct handler_reply	 out;
	struct renew_job	*job;
	size_t			 i;

	if (q->n == 0)
		return;
	pthread_mutex_lock(&grp.lock);
	q->committed = false;
	q->next = grp.waiting;
	grp.waiting = q;
	while (!q->committed) {
		if (grp.leading) {
			pthread_cond_wait(&grp.done, &grp.lock);
			continue;
		}
		grp.leading = true;
		list = grp.waiting;
		grp.waiting = NULL;
		pthread_mutex_unlock(&grp.lock);
		renew_round_commit(q->d, list);
		pthread_mutex_lock(&grp.lock);
		for (x = list; x != NULL; x = x->next)
			x->committed = true;
		grp.leading = false;
		pthread_cond_broadcast(&grp.done);
	}
	pthread_mutex_unlock(&grp.lock);

	for (i = 0; i < q->n; i++) {
		job = &q->job[i];
		handler_reply_init(&out);
		renew_finish(q->d, job, &job->r, &out);
		if (dispatch_deferred_done(q->d, &job->peer, job->nonce,
		    job->nonce_len, job->hash, &out, q->batch, job->slot) == -1)
			log_error("%s: the reply of act %s could not be built",
			    __func__, job->act);
		handler_reply_clear(&out);
		free(job->key_text);
		job->key_text = NULL;
	}
	q->n = 0;
}

/* A queue for the activate requests of batch b's loop: see renew.h. */
struct renew_queue *
renew_queue_new(struct daemon *d, struct batch *b)
{
	struct renew_queue	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->d = d;
	q->batch = b;
	batch_set_prepare(b, renew_queue_flush, q);
	return q;
}

/* Free the queue (after its batch: batch_free redeems what waits). */
void
renew_queue_free(struct renew_queue *q)
{
	if (q == NULL)
		return;
	free(q->job);
	free(q);
}

