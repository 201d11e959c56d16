/*
 * key.issue (SPEC section 5; issue 7): one key or a million, bound by the
 * time the signatures take. Keys are stored in batches, signed many a
 * request by the signer process while keygated stores and encodes others,
 * and answered as one list reply, or, when the request asks for "stream",
 * in a partial frame after each step and a final frame at the end (the
 * framing is in proto/README.md, "Admin socket").
 *
 * The work is a pipeline over the two cores, run in short steps:
 * - store: license_create_many stores up to ISSUE_BATCH licenses in one
 *   transaction (serials, regnos and an audit record each) into a ring
 *   of two batches, whenever the ring has room, in a thread of its own
 *   (admin_bg) for a batch of ISSUE_THREAD_MIN keys or more;
 * - sign: ISSUE_INFLIGHT sign-many requests of ISSUE_CHUNK stored
 *   keys are kept in flight (signer_many.c), also while the event loop
 *   runs between steps, so the signer process signs while keygated stores
 *   the next batch, encodes keys and sends them;
 * - answer: each request's signatures become key texts and JSON results as
 *   soon as they are back, while the requests after it are signed.
 * ISSUE_INFLIGHT requests are about 27 ms of signing on the benchmark's
 * machine: enough to keep the signer busy while a batch is stored (14 to
 * 25 ms, growing with the store). A step answers requests until its frame
 * holds ISSUE_FRAME_BYTES (a streamed issue: less than the socket takes in
 * one turn, so the client reads while the next step works) or
 * ADMIN_STEP_MSEC passed; admin.c sends the frame and steps no further
 * while the client has not read what was sent. Meanwhile the public port
 * is served between steps, which never wait for the signer: a step answers
 * the requests whose signatures are in and, when the oldest one's are not,
 * ends and asks for the next step ADMIN_LOOK_MSEC later (as it does while
 * only a batch is being stored). A check's reply signature goes ahead of
 * the requests in flight (the signer process's priority socket,
 * signer_proc.h). A streamed frame goes out only with keys in it.
 *
 * A streamed frame's results carry key, regno and serial; what all the
 * keys of the issue share is sent once a frame, as "common" (a result of
 * the list reply carries it all, as key.show's result does).
 *
 * Decisions made here:
 * - Each key keeps its own audit record (action key.issue, object its
 *   regno, detail its terms), written in its batch's transaction: with its
 *   license record it costs 1.4 to 2.5 us a key (10,000 keys in one 14 to
 *   25 ms transaction, fsync included, on the benchmark's 2-core machine;
 *   a million keys with their records take 410 MB of the map), a tenth of
 *   a signature on the other core, and "every license has its key.issue
 *   record" stays true for audits and tests.
 * - A batch is stored before any of its keys is signed: the signature
 *   covers the serial and regno the store assigns, so a client never holds
 *   a key the store does not know. A crash or a full store leaves whole
 *   batches of ISSUE_BATCH keys (the last one of an issue may be shorter).
 * - A store error stops the storing; the keys already stored are still
 *   signed and answered (streamed: sent), then the reply is the error,
 *   saying how many keys were issued and how to list them. Without
 *   "stream" the error replaces the list, as before.
 * - Keys stored but never delivered (the client went away, signing
 *   failed) stay issued: they are logged, and listed by key.list.
 * - Without "stream" one reply holds every key, so such a request may ask
 *   for ADMIN_ISSUE_UNSTREAMED_MAX keys at most (older keygate-admins).
 * - A signing-key rotation between two steps: keys signed after it carry
 *   the new key's id (the key that signs them), while a license stored
 *   before it keeps the old key's id in the store; the store's key id then
 *   names a key that no longer signs it, which only makes `signing-key
 *   compromise` of the old key list that license for reissue too.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin_ops_int.h"
#include "daemon.h"
#include "issue.h"
#include "kgerr.h"
#include "license.h"
#include "log.h"
#include "policy.h"
#include "signer.h"
#include "store.h"

#define ISSUE_BATCH		10000		/* keys in one store transaction */
#define ISSUE_RING		(2 * ISSUE_BATCH)	/* stored, not answered yet */
#define ISSUE_CHUNK		256		/* keys in one sign-many request */
#define ISSUE_INFLIGHT		8		/* requests in flight (27 ms of work) */
#define ISSUE_ALONE		32	/* keys signed one by one when no slot is free */
#define ISSUE_FRAME_BYTES	(128 * 1024)	/* a streamed step's frame */
#define ISSUE_THREAD_MIN	1000	/* keys a batch stored by a thread */
#define ISSUE_MEMBERS_MAX	64	/* "common":,"issued":N,"of":M */

#if ISSUE_CHUNK > SIGNER_MANY_MAX || ISSUE_INFLIGHT > SIGNER_MANY_SLOTS
#error "chunks must fit the signer's sign-many requests and slots"
#endif

#if STORE_CREATE_MANY_MAX < ISSUE_BATCH
#error "a batch must fit one license_create_many"
#endif

/* One sign-many request in flight: keys [from, from + n) of the issue. */
struct issue_chunk {
	uint64_t	 ticket;
	uint32_t	 from;
	size_t		 n;
	uint8_t		 buf[SIGNER_MANY_BYTES_MAX];	/* the payloads */
	const uint8_t	*ptr[ISSUE_CHUNK];
	size_t		 len[ISSUE_CHUNK];
};

/* A batch stored by a thread of its own (issue_store). */
struct issue_storing {
	struct admin_bg		 bg;
	bool			 was_running;	/* when the job was freed */
	struct store_audit	 audit;
	uint32_t		 n;
	struct store_issued	*out;		/* its first ring slot */
};

/* key.issue in progress. Key k of the issue is in issue_key(job, k). */
struct issue_job {
	struct signer		*signer;
	struct store_license	 tmpl;		/* the prepared license */
	char			 actor[STORE_ACTOR_MAX + 1];
	char			 created[KG_DATE_TEXT_LEN];
	uint32_t		 count;
	bool			 stream;
	char			*common;	/* the members all keys share */
	char			*suffix;	/* a result's text after "serial" */
	char			*members;	/* a frame's members after results */
	size_t			 members_cap;
	char			*line;		/* one result's JSON text */
	size_t			 line_cap;
	struct store_issued	*ring;
	uint32_t		 stored;	/* keys stored */
	uint32_t		 submitted;	/* ... sent to the signer */
	uint32_t		 answered;	/* ... in the reply (or sent) */
	int			 store_err;	/* STORE_OK until a batch failed */
	bool			 failed;	/* signing or encoding failed */
	bool			 finished;	/* the last reply is made */
	struct issue_storing	 storing;
	struct issue_chunk	*chunk;		/* ISSUE_INFLIGHT, a ring */
	size_t			 chunk_head, nchunks;
	uint8_t			 sig[ISSUE_CHUNK][KG_SIG_LEN];
	char			 first[KG_REGNO_MAX + 1];	/* the first key's regno */
};

/* Give up the requests in flight. */
static void
issue_cancel(struct issue_job *job)
{
	for (; job->nchunks > 0; job->nchunks--) {
		signer_many_cancel(job->signer,
		    job->chunk[job->chunk_head].ticket);
		job->chunk_head = (job->chunk_head + 1) % ISSUE_INFLIGHT;
	}
}

/* What issue_job_free leaves until a batch's transaction has ended. */
static void
issue_job_free_rest(void *arg)
{
	struct issue_job	*job = arg;

	admin_bg_fini(&job->storing.bg);
	if (job->storing.was_running && job->storing.bg.rc == STORE_OK)
		job->stored += job->storing.n;
	/* Keys stored and never answered: say so once, they stay issued. */
	if (!job->finished && job->stored > 0)
		log_warn("admin: %s: key.issue %s %s stopped (the connection "
		    "closed) after %" PRIu32 " of %" PRIu32 " keys were stored, "
		    "%" PRIu32 " of them sent: 'keygate-admin key list --product "
		    "%s' lists them", job->actor, job->tmpl.lic.product,
		    job->tmpl.lic.edition, job->stored, job->count,
		    job->answered, job->tmpl.lic.product);
	free(job->common);
	free(job->suffix);
	free(job->members);
	free(job->line);
	free(job->ring);
	free(job->chunk);
	free(job);
}

static void
issue_job_free(void *arg)
{
	struct issue_job	*job = arg;

	if (job == NULL)
		return;
	if (job->chunk != NULL)
		issue_cancel(job);
	/* A transaction cannot be stopped halfway: it ends in its thread. */
	job->storing.was_running = job->storing.bg.running;
	admin_bg_orphan(&job->storing.bg, issue_job_free_rest, job);
}

/*
 * The members every key of this issue shares, after key, regno and serial:
 * key.show's (admin_json_license_members), as jansson writes them. A
 * streamed issue sends them once a frame ("common"), and each result
 * carries key, regno and serial only; a list reply has them in every
 * result (suffix: ",...}").
 */
static int
issue_common_make(struct issue_job *job)
{
	const struct kg_license	*lic = &job->tmpl.lic;
	json_t			*v;
	size_t			 n;

	v = admin_json_license_members(lic, KG_STATUS_ACTIVE, "");
	if (v == NULL)
		return -1;
	job->common = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (job->common == NULL || job->common[0] != '{' ||
	    (job->suffix = strdup(job->stream ? "}" : job->common)) == NULL)
		return -1;
	/* "{...}" becomes ",...}". */
	if (!job->stream)
		job->suffix[0] = ',';
	n = strlen(job->common);
	job->members_cap = n + ISSUE_MEMBERS_MAX;
	job->line_cap = 64 + KG_KEY_TEXT_MAX + KG_REGNO_MAX + n;
	if ((job->members = malloc(job->members_cap)) == NULL ||
	    (job->line = malloc(job->line_cap)) == NULL)
		return -1;
	return 0;
}

/*
 * The members after a frame's results: in a streamed issue "common", and
 * the keys answered so far out of count.
 */
static const char *
issue_members(struct issue_job *job)
{
	snprintf(job->members, job->members_cap, "%s%s%s\"issued\":%" PRIu32
	    ",\"of\":%" PRIu32, job->stream ? "\"common\":" : "",
	    job->stream ? job->common : "", job->stream ? "," : "",
	    job->answered, job->count);
	return job->members;
}

/* key.issue, first step: check everything and prepare the license. */
static int
issue_start(struct admin_op *op)
{
	struct store_product	 prod;
	struct store_edition	 ed;
	struct issue_job	*job;
	char			 product[KG_CODE_MAX + 1], edition[KG_CODE_MAX + 1];
	char			 licensee[KG_LICENSEE_MAX + 1];
	kg_date			 created;
	uint32_t		 trial_days = 0, count = 1;
	bool			 stream = false;
	int			 rc;

	if (admin_arg_code(op, "product", true, product) == -1 ||
	    admin_arg_code(op, "edition", true, edition) == -1 ||
	    admin_arg_text(op, "licensee", true, KG_LICENSEE_MAX,
	    licensee) == -1 ||
	    (rc = admin_arg_date(op, "created", false, &created)) == -1 ||
	    admin_arg_uint(op, "trial_days", false, 1, ISSUE_TRIAL_DAYS_MAX,
	    &trial_days) == -1 ||
	    admin_arg_uint(op, "count", false, 1, ADMIN_ISSUE_COUNT_MAX,
	    &count) == -1 ||
	    admin_arg_bool(op, "stream", &stream) == -1)
		return -1;
	if (!stream && count > ADMIN_ISSUE_UNSTREAMED_MAX) {
		admin_reply_error(op, "bad_request", "%s: count: more than %d "
		    "keys need \"stream\": true (a reply in several frames; "
		    "keygate-admin asks for it)", op->entry->name,
		    ADMIN_ISSUE_UNSTREAMED_MAX);
		return -1;
	}
	if (rc == 0)
		created = daemon_today(op->d);
	if (admin_product_need(op, product, &prod) == -1 ||
	    admin_edition_need(op, product, edition, &ed) == -1)
		return -1;
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return -1;
	}
	admin_bg_init(&job->storing.bg);
	op->job = job;
	op->job_free = issue_job_free;
	if (issue_license_prepare(&ed.policy, product, edition, licensee,
	    created, trial_days, &job->tmpl.lic) == -1) {
		admin_reply_error(op, "bad_request", "%s: support of a key "
		    "created on that day would end after 9999-12-31: check "
		    "created", op->entry->name);
		return -1;
	}
	job->tmpl.status = KG_STATUS_ACTIVE;
	job->signer = op->d->signer;
	snprintf(job->actor, sizeof(job->actor), "%s", op->actor);
	date_format(created, job->created);
	job->count = count;
	job->stream = stream;
	job->store_err = STORE_OK;
	if (issue_common_make(job) == -1 ||
	    (job->ring = calloc(count < ISSUE_RING ? count : ISSUE_RING,
	    sizeof(*job->ring))) == NULL ||
	    (job->chunk = calloc(ISSUE_INFLIGHT,
	    sizeof(*job->chunk))) == NULL) {
		log_error("%s: out of memory", __func__);
		admin_reply_error(op, "internal", "out of memory: see "
		    "keygated's log");
		return -1;
	}
	return 0;
}

/* The ring's slot of key k (a small issue gets a ring of count keys). */
static struct store_issued *
issue_key(struct issue_job *job, uint32_t k)
{
	uint32_t	cap = job->count < ISSUE_RING ? job->count : ISSUE_RING;

	return &job->ring[k % cap];
}

/* The stored batch of n keys, or the error rc that stops the storing. */
static void
issue_stored(struct admin_op *op, struct issue_job *job, uint32_t n, int rc)
{
	if (rc != STORE_OK) {
		job->store_err = rc;
		if (rc != STORE_FULL)
			log_error("admin: key.issue: storing keys %" PRIu32
			    " to %" PRIu32 ": %s", job->stored + 1,
			    job->stored + n, store_strerror(rc));
		return;
	}
	if (job->stored == 0)
		memcpy(job->first, job->ring[0].regno, sizeof(job->first));
	log_debug("admin: %s: key.issue %s to %s stored", op->actor,
	    issue_key(job, job->stored)->regno,
	    issue_key(job, job->stored + n - 1)->regno);
	job->stored += n;
}

/* The storing thread's work: one license_create_many of job's batch. */
static int
issue_store_run(void *arg)
{
	struct issue_job	*job = arg;
	struct issue_storing	*sg = &job->storing;

	return sg->bg.st->ops->license_create_many(sg->bg.st, &job->tmpl,
	    sg->n, &sg->audit, sg->out);
}

/*
 * Store the next batch when the ring has room for it (one transaction; a
 * failure stops the storing: store_err). The batch lands in consecutive
 * slots: every batch but the last is ISSUE_BATCH keys. A batch of
 * ISSUE_THREAD_MIN keys or more is stored by a thread of its own, so that
 * its transaction (14 to 25 ms for 10,000 keys) never holds the event
 * loop: a later step takes its result (the ring's slots it fills are
 * beyond job->stored, which the loop does not read, and job->tmpl is not
 * changed while it runs).
 */
static void
issue_store(struct admin_op *op, struct issue_job *job)
{
	struct issue_storing	*sg = &job->storing;
	struct store		*st = op->d->store;
	const struct kg_license	*lic = &job->tmpl.lic;
	char			 sx[KG_DATE_TEXT_LEN], lx[KG_DATE_TEXT_LEN];
	uint32_t		 n = job->count - job->stored;
	int			 rc;

	if (sg->bg.running) {
		if (admin_bg_done(&sg->bg))
			issue_stored(op, job, sg->n, sg->bg.rc);
		return;
	}
	if (n > ISSUE_BATCH)
		n = ISSUE_BATCH;
	if (job->store_err != STORE_OK || job->failed || n == 0 ||
	    job->stored - job->answered + n > ISSUE_RING)
		return;
	/* The active key now: a rotation may come between two steps. */
	memcpy(job->tmpl.lic.key_id, signer_key_id(op->d->signer),
	    KG_KEY_ID_LEN);
	job->tmpl.updated_at = daemon_now(op->d);
	date_format(lic->support_expiry, sx);
	date_format(lic->license_expiry, lx);
	/* An empty object: the store names each key's regno there. */
	store_audit_fill(&sg->audit, job->tmpl.updated_at, op->actor,
	    "key.issue", "", "product=%s edition=%s licensee=\"%s\" "
	    "created=%s support_expiry=%s license_expiry=%s support_months=%"
	    PRIu32 " trial=%s", lic->product, lic->edition, lic->licensee,
	    job->created, lic->support_expiry != KG_DATE_NONE ? sx :
	    "activation", lic->license_expiry != KG_DATE_NONE ? lx : "none",
	    lic->support_months, lic->trial ? "yes" : "no");
	sg->n = n;
	sg->out = issue_key(job, job->stored);
	if (n >= ISSUE_THREAD_MIN &&
	    (rc = admin_bg_start(&sg->bg, st, issue_store_run, job)) == 0)
		return;
	if (n >= ISSUE_THREAD_MIN)
		log_warn("admin: key.issue: cannot start a thread to store "
		    "keys (%s): storing them in the event loop", strerror(rc));
	issue_stored(op, job, n, st->ops->license_create_many(st, &job->tmpl,
	    n, &sg->audit, sg->out));
}

/* Signing went wrong: nothing stays in flight; the reply says so. */
static int
issue_sign_failed(struct issue_job *job)
{
	issue_cancel(job);
	job->failed = true;
	return -1;
}

/* Key k's payload into buf (cap bytes), signed with the active key. */
static int
issue_pack(struct issue_job *job, uint32_t k, uint8_t *buf, size_t cap,
    size_t *len)
{
	struct kg_license	lic = job->tmpl.lic;
	struct store_issued	*ki = issue_key(job, k);

	/* Signed with the active key, so its id goes into the payload. */
	memcpy(lic.key_id, signer_key_id(job->signer), KG_KEY_ID_LEN);
	lic.serial = ki->serial;
	memcpy(lic.regno, ki->regno, sizeof(lic.regno));
	return license_payload_pack(&lic, buf, cap, len) == KGE_OK ? 0 : -1;
}

/*
 * Keep ISSUE_INFLIGHT requests of stored keys in flight, as far as
 * the signer has free slots. 0 or -1.
 */
static int
issue_fill(struct admin_op *op, struct issue_job *job)
{
	struct issue_chunk	*c;
	size_t			 used, plen;
	int			 rc;

	while (!job->failed && job->nchunks < ISSUE_INFLIGHT &&
	    job->submitted < job->stored) {
		c = &job->chunk[(job->chunk_head + job->nchunks) %
		    ISSUE_INFLIGHT];
		c->from = job->submitted;
		for (c->n = 0, used = 0; c->n < ISSUE_CHUNK &&
		    c->from + c->n < job->stored; c->n++) {
			if (issue_pack(job, c->from + (uint32_t)c->n,
			    c->buf + used, sizeof(c->buf) - used, &plen) == -1 ||
			    !signer_many_fits(c->n + 1, used + plen))
				break;
			c->ptr[c->n] = c->buf + used;
			c->len[c->n] = plen;
			used += plen;
		}
		if (c->n == 0) {
			log_error("%s: license %s does not pack", __func__,
			    issue_key(job, c->from)->regno);
			return issue_sign_failed(job);
		}
		rc = signer_many_submit(op->d->signer, c->ptr, c->len, c->n,
		    &c->ticket);
		if (rc == -1)
			return issue_sign_failed(job);
		if (rc == 1)
			break;	/* other issues hold every slot */
		job->submitted += (uint32_t)c->n;
		job->nchunks++;
	}
	return 0;
}

/* One result: key k with its signature, appended to the reply. 0 or -1. */
static int
issue_result(struct admin_op *op, struct issue_job *job, uint32_t k,
    const uint8_t *payload, size_t len, const uint8_t sig[KG_SIG_LEN])
{
	struct store_issued	*ki = issue_key(job, k);
	char			*text;
	int			 n;

	if (license_key_format(payload, len, sig, &text) != KGE_OK) {
		log_error("%s: out of memory", __func__);
		return -1;
	}
	/* Codes, digits and base64url need no JSON escapes. */
	n = snprintf(job->line, job->line_cap, "{\"key\":\"%s\",\"regno\":"
	    "\"%s\",\"serial\":%" PRIu64 "%s", text, ki->regno, ki->serial,
	    job->suffix);
	free(text);
	if (n < 0 || (size_t)n >= job->line_cap ||
	    admin_reply_list_add_text(op, job->line, (size_t)n) == -1) {
		log_error("%s: the reply cannot take key %s", __func__,
		    ki->regno);
		return -1;
	}
	job->answered++;
	return 0;
}

/*
 * Every signer slot is taken by other issues and none is this one's: sign
 * the next few keys one by one rather than wait. 0 or -1.
 */
static int
issue_answer_alone(struct admin_op *op, struct issue_job *job)
{
	uint8_t		payload[KG_PAYLOAD_MAX], sig[KG_SIG_LEN];
	size_t		len;
	uint32_t	i;

	for (i = 0; i < ISSUE_ALONE && job->submitted < job->stored; i++) {
		if (issue_pack(job, job->submitted, payload, sizeof(payload),
		    &len) == -1 || signer_sign(op->d->signer,
		    KG_DOMAIN_LICENSE, payload, len, sig) == -1 ||
		    issue_result(op, job, job->submitted, payload, len,
		    sig) == -1)
			return issue_sign_failed(job);
		job->submitted++;
	}
	return 0;
}

/*
 * The oldest request's signatures: its keys as results of the reply.
 * 0 or -1 (failed set).
 */
static int
issue_answer(struct admin_op *op, struct issue_job *job)
{
	struct issue_chunk	*c = &job->chunk[job->chunk_head];
	size_t			 i;
	int			 rc;

	rc = signer_many_collect(op->d->signer, c->ticket, job->sig, c->n);
	job->chunk_head = (job->chunk_head + 1) % ISSUE_INFLIGHT;
	job->nchunks--;
	if (rc == -1)
		return issue_sign_failed(job);
	for (i = 0; i < c->n; i++)
		if (issue_result(op, job, c->from + (uint32_t)i, c->ptr[i],
		    c->len[i], job->sig[i]) == -1)
			return issue_sign_failed(job);
	return 0;
}

/* The last reply: the list's end, or the error that stopped the issue. */
static void
issue_reply_last(struct admin_op *op, struct issue_job *job)
{
	const char	*product = job->tmpl.lic.product;
	json_t		*extra = NULL;

	job->finished = true;
	if (job->stream)
		extra = json_pack("{s:I,s:I}", "issued",
		    (json_int_t)job->answered, "of", (json_int_t)job->count);
	if (job->store_err == STORE_FULL) {
		log_warn("admin: key.issue stopped after %" PRIu32 " of %"
		    PRIu32 " keys: the store is full", job->stored, job->count);
		admin_reply_error_with(op, extra, "storage_full", "the store "
		    "is full after %" PRIu32 " of %" PRIu32 " keys: raise "
		    "map_size_mb in keygated.conf, restart keygated and see "
		    "the issued ones with 'keygate-admin key list --product "
		    "%s'", job->stored, job->count, product);
	} else if (job->store_err != STORE_OK) {
		admin_reply_error_with(op, extra, "internal", "storing the "
		    "keys failed after %" PRIu32 " of %" PRIu32 " keys (%s): "
		    "see keygated's log, and the issued ones with "
		    "'keygate-admin key list --product %s'", job->stored,
		    job->count, store_strerror(job->store_err), product);
	} else if (job->failed) {
		log_warn("admin: key.issue stopped after %" PRIu32 " of %"
		    PRIu32 " keys were stored, %" PRIu32 " of them answered: "
		    "signing failed", job->stored, job->count, job->answered);
		admin_reply_error_with(op, extra, "internal", "signing failed "
		    "after %" PRIu32 " of %" PRIu32 " keys (see keygated's "
		    "log); %" PRIu32 " keys were issued: see them with "
		    "'keygate-admin key list --product %s'", job->answered,
		    job->count, job->stored, product);
	} else {
		json_decref(extra);
		log_info("admin: %s: key.issue %s %s: %" PRIu32 " key%s from "
		    "%s", op->actor, product, job->tmpl.lic.edition,
		    job->count, job->count == 1 ? "" : "s", job->first);
		if ((job->stream ? admin_reply_list_end_with(op, false,
		    issue_members(job)) : admin_reply_list_end(op)) == -1)
			admin_reply_list_too_long(op);
	}
}

/* key.issue: store, sign and answer keys for one step (see the top). */
bool
admin_issue_keys(struct admin_op *op)
{
	struct issue_job	*job;
	int64_t			 start;
	bool			 stopped;

	if (op->job == NULL && issue_start(op) == -1)
		return false;
	job = op->job;
	start = admin_clock_msec();
	/* Each frame of a streamed issue is a list of its own. */
	if (op->len == 0 && admin_reply_list_begin(op) == -1) {
		admin_reply_list_too_long(op);
		return false;
	}
	do {
		if (issue_fill(op, job) == 0) {
			/* The next batch is stored while those are signed. */
			issue_store(op, job);
			(void)issue_fill(op, job);
		}
		if (job->nchunks > 0) {
			/* Never wait for the signer with the loop held. */
			if (!job->failed && !signer_many_ready(op->d->signer,
			    job->chunk[job->chunk_head].ticket)) {
				op->wait_ms = ADMIN_LOOK_MSEC;
				break;
			}
			(void)issue_answer(op, job);
		} else if (!job->failed && job->submitted < job->stored)
			(void)issue_answer_alone(op, job);
		else {
			if (job->storing.bg.running)
				op->wait_ms = ADMIN_LOOK_MSEC;
			break;
		}
	} while (admin_clock_msec() - start < ADMIN_STEP_MSEC &&
	    (!job->stream || op->len < ISSUE_FRAME_BYTES));
	stopped = job->failed || job->store_err != STORE_OK;
	/* A batch still being stored is counted in the last reply. */
	if (job->answered == job->count || (stopped && job->nchunks == 0 &&
	    !job->storing.bg.running &&
	    (job->failed || job->answered == job->stored))) {
		/* Streamed: this frame's keys go out before the error. */
		if (!stopped || !job->stream || op->nresults == 0) {
			issue_reply_last(op, job);
			return false;
		}
	}
	if (!job->stream || op->nresults == 0)
		return true;	/* no new key: the frame stays open */
	if (admin_reply_list_end_with(op, true, issue_members(job)) == -1) {
		admin_reply_list_too_long(op);
		return false;
	}
	return true;
}
