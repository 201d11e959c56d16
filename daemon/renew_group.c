/*
 * Group commit of act redemptions (renew.h): the activate requests of a
 * loop wait in its queue and are redeemed together, in one durable write
 * transaction, by the committer thread; the loop answers each after that
 * commit. The loop is never blocked by a commit: while one group is being
 * written, the requests that come meanwhile are published for the next,
 * which the committer takes itself as soon as the last one is durable; it
 * waits for no loop between groups (renew_int.h has the arrays they pass
 * through).
 */
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

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

/* A queue's end-of-turn event is made active by its first job. */
static void	renew_turn_cb(evutil_socket_t, short, void *);

/* Room for n jobs in js. 0, or -1 when out of memory. */
static int
renew_jobs_reserve(struct renew_jobs *js, size_t n)
{
	struct renew_job	*v;
	size_t			 cap;

	if (n <= js->cap)
		return 0;
	cap = js->cap == 0 ? 16 : js->cap;
	while (cap < n)
		cap *= 2;
	if ((v = reallocarray(js->v, cap, sizeof(*v))) == NULL)
		return -1;
	js->v = v;
	js->cap = cap;
	return 0;
}

/*
 * to takes from's jobs after its own: the two arrays trade places when to
 * is empty, else from's are copied. 0, or -1 when out of memory (then
 * nothing moved).
 */
static int
renew_jobs_append(struct renew_jobs *to, struct renew_jobs *from)
{
	struct renew_jobs	t;

	if (to->n == 0) {
		t = *to;
		*to = *from;
		*from = t;
		return 0;
	}
	if (renew_jobs_reserve(to, to->n + from->n) == -1)
		return -1;
	memcpy(&to->v[to->n], from->v, from->n * sizeof(*from->v));
	to->n += from->n;
	from->n = 0;
	return 0;
}

/*
 * Park job in the loop's queue until its group commit. 0, or -1 when it
 * cannot wait (then it is redeemed at once).
 */
int
renew_defer(const struct request_ctx *rc, const struct renew_job *job)
{
	struct renew_queue	*q = rc->loop->renew;
	struct renew_job	*nj;

	if (renew_jobs_reserve(&q->job, q->job.n + 1) == -1)
		return -1;
	nj = &q->job.v[q->job.n++];
	*nj = *job;
	nj->owner = rc->owner;
	memcpy(nj->nonce, rc->req->nonce, rc->req->nonce_len);
	nj->nonce_len = rc->req->nonce_len;
	memcpy(nj->hash, rc->req->hash, KG_HASH_LEN);
	if (q->job.n == 1)
		event_active(q->turn, 0, 0);
	return 0;
}

/*
 * The committer thread, one for every worker's loop: it waits until a
 * queue has jobs published, takes the published jobs of every such queue,
 * redeems them all in one transaction, hands each queue its group (ripe,
 * after the group before it when the loop has not taken that yet) and
 * makes its done event active, then at once takes what was published
 * meanwhile. It runs while at least one queue exists.
 *
 * Its scratch lives here too: the requests in one array for
 * act_redeem_many, their jobs, and the renewed licenses' payloads and
 * signatures.
 */
static struct {
	pthread_mutex_t		  lock;
	pthread_cond_t		  cond;		/* pub, ripe, in_round or stop changed */
	pthread_t		  thread;
	bool			  running;	/* the thread was started */
	bool			  stop;
	struct renew_queue	 *queues;	/* every queue, through next */
	struct daemon		 *d;		/* the round's: */
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
	.cond = PTHREAD_COND_INITIALIZER,
};

/* Room for n requests in the committer's scratch. 0 or -1. */
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

/* Redeem the requests of every queue in list in one transaction. */
static void
renew_round_commit(struct daemon *d, struct renew_queue *list)
{
	struct store		*st = d->store;
	struct renew_queue	*q;
	size_t			 i, n = 0;

	for (q = list; q != NULL; q = q->round_next)
		n += q->run.n;
	if (renew_round_reserve(n) == -1) {
		log_error("%s: out of memory for %zu redemptions", __func__, n);
		for (q = list; q != NULL; q = q->round_next)
			for (i = 0; i < q->run.n; i++) {
				q->run.v[i].r.err = STORE_IO;
				q->run.v[i].r.reason = KG_REASON_INTERNAL;
			}
		return;
	}
	grp.d = d;
	grp.n = 0;
	for (q = list; q != NULL; q = q->round_next)
		for (i = 0; i < q->run.n; i++) {
			renew_job_request(d, &q->run.v[i], &grp.req[grp.n]);
			grp.job[grp.n++] = &q->run.v[i];
		}
	grp.nticket = 0;
	if (st->ops->act_redeem_many(st, grp.req, grp.n, renew_sign_submit,
	    NULL) == STORE_OK)
		metrics_count_group(grp.n);
	renew_sign_collect();
	for (i = 0; i < grp.n; i++)
		grp.job[i]->r = grp.req[i];
}

/* The queue's published jobs can go into a group (under grp.lock). */
static bool
renew_queue_ready(const struct renew_queue *q)
{
	return q->pub.n > 0 && !q->in_round;
}

/* Some queue is ready (under grp.lock). */
static bool
renew_any_ready(void)
{
	struct renew_queue	*q;

	for (q = grp.queues; q != NULL; q = q->next)
		if (renew_queue_ready(q))
			return true;
	return false;
}

/* The committer thread: see the top of grp. */
static void *
renew_committer_main(void *arg)
{
	struct renew_queue	*q, *round;
	struct renew_jobs	 t;
	struct daemon		*d;

	(void)arg;
	pthread_mutex_lock(&grp.lock);
	for (;;) {
		while (!renew_any_ready() && !grp.stop)
			pthread_cond_wait(&grp.cond, &grp.lock);
		if (!renew_any_ready())
			break;		/* stop, and nothing is left */
		round = NULL;
		for (q = grp.queues; q != NULL; q = q->next) {
			if (!renew_queue_ready(q))
				continue;
			t = q->run;	/* empty: the last round left it so */
			q->run = q->pub;
			q->pub = t;
			q->in_round = true;
			q->round_next = round;
			round = q;
		}
		d = round->d;
		pthread_mutex_unlock(&grp.lock);
		daemon_shared_turn(d);		/* a waiting writer goes first */
		renew_round_commit(d, round);
		daemon_shared_leave(d);
		pthread_mutex_lock(&grp.lock);
		for (q = round; q != NULL; q = q->round_next) {
			/*
			 * Out of memory, wait for the loop to take the last
			 * group (renew_queue_free drops run when it stops).
			 */
			while (!q->closing &&
			    renew_jobs_append(&q->ripe, &q->run) == -1)
				pthread_cond_wait(&grp.cond, &grp.lock);
			q->in_round = false;
			event_active(q->done, 0, 0);
		}
		pthread_cond_broadcast(&grp.cond);	/* renew_queue_free */
	}
	pthread_mutex_unlock(&grp.lock);
	if (grp.d != NULL)
		store_thread_end(grp.d->store);
	return NULL;
}

/*
 * The end of a turn that queued activate requests: publish them for the
 * committer. Out of memory, they wait in job and this is tried again soon.
 */
static void
renew_turn_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval	 retry = { 0, 10000 };
	struct renew_queue		*q = arg;
	int				 rc;

	(void)fd;
	(void)what;
	if (q->job.n == 0)
		return;
	pthread_mutex_lock(&grp.lock);
	rc = renew_jobs_append(&q->pub, &q->job);
	if (rc == 0)
		pthread_cond_broadcast(&grp.cond);
	pthread_mutex_unlock(&grp.lock);
	if (rc == -1) {
		log_warn("%s: out of memory for %zu activate requests; trying "
		    "again", __func__, q->job.n);
		event_add(q->turn, &retry);
	}
}

/* The committer made a group ripe: answer each of its jobs. */
static void
renew_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct renew_queue	*q = arg;
	struct handler_reply	 out;
	struct renew_job	*job;
	struct renew_jobs	 t;
	size_t			 i;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&grp.lock);
	t = q->fin;		/* empty: answered below, every time */
	q->fin = q->ripe;
	q->ripe = t;
	pthread_cond_broadcast(&grp.cond);	/* the committer may wait */
	pthread_mutex_unlock(&grp.lock);
	if (q->fin.n == 0)
		return;
	daemon_shared_enter(q->d);
	for (i = 0; i < q->fin.n; i++) {
		job = &q->fin.v[i];
		handler_reply_init(&out);
		renew_finish(q->d, job, &job->r, &out);
		if (job->owner != NULL) {
			if (dispatch_deferred_done(q->d, &job->peer, job->nonce,
			    job->nonce_len, job->hash, &out, q->loop,
			    job->owner) == -1)
				log_error("%s: the reply of act %s could not be "
				    "queued; closing its connection", __func__,
				    job->act);
			q->loop->unhold(job->owner);
		}
		handler_reply_clear(&out);
		free(job->key_text);
		job->key_text = NULL;
	}
	q->fin.n = 0;
	daemon_shared_leave(q->d);
}

/* Forget owner in js. */
static void
renew_jobs_forget(struct renew_jobs *js, const void *owner)
{
	size_t	i;

	for (i = 0; i < js->n; i++)
		if (js->v[i].owner == owner)
			js->v[i].owner = NULL;
}

/* owner is gone: see renew.h. */
void
renew_forget(struct renew_queue *q, const void *owner)
{
	if (q == NULL)
		return;
	renew_jobs_forget(&q->job, owner);
	renew_jobs_forget(&q->fin, owner);
	/* The committer does not read owner, and moves run under the lock. */
	pthread_mutex_lock(&grp.lock);
	renew_jobs_forget(&q->pub, owner);
	renew_jobs_forget(&q->run, owner);
	renew_jobs_forget(&q->ripe, owner);
	pthread_mutex_unlock(&grp.lock);
}

/* A queue for loop's activate requests: see renew.h. */
struct renew_queue *
renew_queue_new(struct daemon *d, struct dispatch_loop *loop,
    struct event_base *base)
{
	struct renew_queue	*q;
	sigset_t		 all, old;
	int			 rc;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		log_error("%s: out of memory", __func__);
		return NULL;
	}
	q->d = d;
	q->loop = loop;
	if ((q->turn = event_new(base, -1, 0, renew_turn_cb, q)) == NULL ||
	    (q->done = event_new(base, -1, 0, renew_done_cb, q)) == NULL) {
		log_error("%s: event_new failed", __func__);
		goto fail;
	}
	pthread_mutex_lock(&grp.lock);
	if (!grp.running) {
		grp.stop = false;
		grp.d = d;
		/* The thread gets no signals: the main loop handles them. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		rc = pthread_create(&grp.thread, NULL, renew_committer_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc == 0)
			(void)pthread_setname_np(grp.thread, "keygated-commit");
		if (rc != 0) {
			pthread_mutex_unlock(&grp.lock);
			log_error("%s: cannot start the committer thread: %s",
			    __func__, strerror(rc));
			goto fail;
		}
		grp.running = true;
	}
	q->next = grp.queues;
	grp.queues = q;
	pthread_mutex_unlock(&grp.lock);
	return q;
fail:
	if (q->turn != NULL)
		event_free(q->turn);
	free(q);
	return NULL;
}

/* Free js's key texts (of jobs not answered); n of them. */
static size_t
renew_jobs_drop(struct renew_jobs *js)
{
	size_t	i, n = js->n;

	for (i = 0; i < n; i++)
		free(js->v[i].key_text);
	free(js->v);
	return n;
}

/* Wait for the queue's group, drop the rest, free: see renew.h. */
void
renew_queue_free(struct renew_queue *q)
{
	struct renew_queue	**pp;
	pthread_t		  t;
	bool			  last;
	size_t			  n;

	if (q == NULL)
		return;
	pthread_mutex_lock(&grp.lock);
	q->closing = true;
	pthread_cond_broadcast(&grp.cond);
	while (q->in_round)
		pthread_cond_wait(&grp.cond, &grp.lock);
	for (pp = &grp.queues; *pp != q; pp = &(*pp)->next)
		;
	*pp = q->next;
	last = grp.queues == NULL;
	if (last) {
		grp.stop = true;
		grp.running = false;
	}
	pthread_cond_broadcast(&grp.cond);
	t = grp.thread;
	pthread_mutex_unlock(&grp.lock);
	if (last)
		pthread_join(t, NULL);
	if ((n = renew_jobs_drop(&q->ripe) + renew_jobs_drop(&q->run)) > 0)
		log_warn("%s: %zu redemptions committed but not answered "
		    "(the loop has stopped)", __func__, n);
	if ((n = renew_jobs_drop(&q->pub) + renew_jobs_drop(&q->job)) > 0)
		log_warn("%s: %zu activate requests dropped unanswered (the loop "
		    "has stopped)", __func__, n);
	(void)renew_jobs_drop(&q->fin);
	event_free(q->turn);
	event_free(q->done);
	free(q);
}
