/*
 * Dispatch of public requests: the message bytes of one frame are decoded and
 * validated (wire.c), the body is routed to its handler, and the handler's
 * Verdict or Error becomes a signed reply frame carrying the request's nonce,
 * its hash and the server time. Protocol and validation errors are answered
 * here; an unreadable request is answered and the connection marked to close.
 * The reply goes either into the loop's batch (batch.c: signed with the
 * other replies of the turn; what conn.c uses) or is signed directly into a
 * frame (tests, fuzzing).
 * A RotationsRequest is answered with the served rotation statements
 * (rotation.c) instead of a Verdict.
 * One debug line per request: peer, request type, result. Each request and
 * signed reply is counted for the metrics (metrics.c): its type, its reason,
 * a check's verdict and the time its handler took, an activation's outcome
 * (renewals themselves are counted by renew.c, which tells a repeat apart).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "check.h"
#include "daemon.h"
#include "date.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "renew.h"
#include "rotation.h"
#include "store.h"
#include "wire.h"

/* An empty reply: a Verdict with every field unset. */
void
handler_reply_init(struct handler_reply *r)
{
	memset(r, 0, sizeof(*r));
	keygate__verdict__init(&r->verdict);
	keygate__quote__init(&r->quote);
	keygate__renewal__init(&r->renewal);
	r->verdict.detail = r->detail;
}

/* Free what the reply owns. */
void
handler_reply_clear(struct handler_reply *r)
{
	free(r->key);
	r->key = NULL;
	rotation_statements_free(r->rotations);
	r->rotations = NULL;
}

/* Make r an Error reply. */
void
handler_reply_error(struct handler_reply *r, const char *reason,
    const char *fmt, ...)
{
	va_list	ap;

	r->error = reason;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

static uint64_t
dispatch_clock_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static enum metrics_request
dispatch_metrics_type(const Keygate__Request *m)
{
	if (m == NULL)
		return METRICS_REQ_UNREADABLE;
	switch (m->body_case) {
	case KEYGATE__REQUEST__BODY_CHECK:
		return METRICS_REQ_CHECK;
	case KEYGATE__REQUEST__BODY_STATUS:
		return METRICS_REQ_STATUS;
	case KEYGATE__REQUEST__BODY_ACTIVATE:
		return METRICS_REQ_ACTIVATE;
	case KEYGATE__REQUEST__BODY_ROTATIONS:
		return METRICS_REQ_ROTATIONS;
	default:
		return METRICS_REQ_UNREADABLE;
	}
}

/* An activate request's outcome ("renewed" and "repeated": renew.c). */
static void
dispatch_count_redemption(const struct handler_reply *out)
{
	if (out->error != NULL)
		metrics_count_redemption("error");
	else if (strcmp(out->verdict.reason, "ok") != 0)
		metrics_count_redemption(out->verdict.reason);
}

/* Route a valid request to its handler. */
static void
dispatch_route(const struct request_ctx *rc, const Keygate__Request *m,
    struct handler_reply *out)
{
	uint64_t	start;

	switch (m->body_case) {
	case KEYGATE__REQUEST__BODY_CHECK:
		start = dispatch_clock_ns();
		/* One read transaction for the check's several reads. */
		store_read_hold(rc->d->store);
		check_handle(rc, m->check, out);
		store_read_release(rc->d->store);
		metrics_count_check(out->error != NULL ? NULL :
		    out->verdict.verdict, dispatch_clock_ns() - start);
		break;
	case KEYGATE__REQUEST__BODY_STATUS:
		store_read_hold(rc->d->store);
		check_status_handle(rc, m->status, out);
		store_read_release(rc->d->store);
		break;
	case KEYGATE__REQUEST__BODY_ACTIVATE:
		renew_handle(rc, m->activate, out);
		if (!out->deferred)
			dispatch_count_redemption(out);
		break;
	case KEYGATE__REQUEST__BODY_ROTATIONS:
		rotation_handle(rc, out);
		break;
	default:
		/* wire_request_decode lets no other case through. */
		handler_reply_error(out, "internal", "unroutable request");
		break;
	}
}

/* Where a finished wire_reply goes: signed into a frame, or into a batch. */
struct dispatch_sink {
	struct dispatch_loop *loop;	/* NULL: sign directly into *frame */
	void		 *owner;
	uint8_t		**frame;
	size_t		 *framelen;
};

static int
dispatch_emit(struct daemon *d, struct wire_reply *wr,
    const struct dispatch_sink *sink)
{
	wr->server_time = daemon_now(d);
	wr->test_clock = d->test_clock;
	if (d->test_clock) {
		char	day[KG_DATE_TEXT_LEN];

		date_format(date_from_time((time_t)wr->server_time), day);
		log_warn("TEST CLOCK: signing a reply dated %s (test clock)", day);
	}
	if (sink->loop != NULL)
		return batch_add(sink->loop->batch, sink->owner, wr);
	return wire_reply_encode(d->signer, wr, sink->frame, sink->framelen);
}

static int	dispatch_reply(struct daemon *, const struct dispatch_peer *,
		    const char *, struct handler_reply *, bool,
		    struct wire_reply *, const struct dispatch_sink *);

/*
 * Answer one request message into sink. While held, anything but a
 * readable activate request is left alone: 1 (dispatch_frame_batch).
 */
static int
dispatch_answer(struct daemon *d, const struct dispatch_peer *peer,
    const uint8_t *msg, size_t len, const struct dispatch_sink *sink,
    bool held, bool *close_after, bool *deferred)
{
	struct wire_request	 req;
	struct handler_reply	 out;
	struct request_ctx	 rc = { .d = d, .peer = peer, .req = &req,
				    .loop = sink->loop, .owner = sink->owner };
	struct wire_reply	 wr;
	enum wire_decode	 dec;
	int			 rv = 0;

	*close_after = false;
	*deferred = false;
	handler_reply_init(&out);
	memset(&wr, 0, sizeof(wr));

	dec = wire_request_decode(msg, len, wire_budget_for(d->conf.frame_max),
	    &req);
	if (held && (dec != WIRE_DECODE_OK ||
	    req.msg->body_case != KEYGATE__REQUEST__BODY_ACTIVATE)) {
		wire_request_clear(&req);
		return 1;
	}
	wr.nonce = req.nonce;
	wr.nonce_len = req.nonce_len;
	wr.request_hash = req.hash;
	metrics_count_request(dispatch_metrics_type(req.msg));
	if (dec == WIRE_DECODE_OK) {
		dispatch_route(&rc, req.msg, &out);
	} else {
		handler_reply_error(&out, reason_name(req.reason), "%s", req.detail);
		*close_after = dec == WIRE_DECODE_UNREADABLE;
	}
	if (out.deferred) {
		/* renew.c answers it after its commit: dispatch_deferred_done. */
		*deferred = true;
		handler_reply_clear(&out);
		wire_request_clear(&req);
		return 0;
	}
	rv = dispatch_reply(d, peer, req.msg != NULL ?
	    wire_request_type(req.msg) : "unreadable frame", &out, *close_after,
	    &wr, sink);
	handler_reply_clear(&out);
	wire_request_clear(&req);
	return rv;
}

/* Log, build and emit the reply out to a request of type; count it. 0 or -1. */
static int
dispatch_reply(struct daemon *d, const struct dispatch_peer *peer,
    const char *type, struct handler_reply *out, bool close_after,
    struct wire_reply *wr, const struct dispatch_sink *sink)
{
	int	rv;

	if (out->error != NULL) {
		wr->error_reason = out->error;
		wr->error_detail = out->detail;
		log_debug("peer %s: %s%s%s: error %s (%s)%s", peer->text, type,
		    out->log[0] ? " " : "", out->log, out->error, out->detail,
		    close_after ? "; closing" : "");
	} else {
		if (out->rotations != NULL)
			wr->rotations = out->rotations;
		else
			wr->verdict = &out->verdict;
		log_debug("peer %s: %s%s%s: %s%s%s", peer->text, type,
		    out->log[0] ? " " : "", out->log,
		    out->verdict.verdict[0] ? out->verdict.verdict : "",
		    out->verdict.verdict[0] ? "/" : "", out->verdict.reason);
	}
	rv = dispatch_emit(d, wr, sink);
	if (rv == 0)
		metrics_count_reply(out->error != NULL, out->error != NULL ?
		    out->error : out->verdict.reason);
	return rv;
}

/* Finish a deferred reply into loop's batch: see dispatch.h. */
int
dispatch_deferred_done(struct daemon *d, const struct dispatch_peer *peer,
    const uint8_t *nonce, size_t nonce_len, const uint8_t *hash,
    struct handler_reply *out, struct dispatch_loop *loop, void *owner)
{
	struct dispatch_sink	sink = { .loop = loop, .owner = owner };
	struct wire_reply	wr;

	memset(&wr, 0, sizeof(wr));
	wr.nonce = nonce;
	wr.nonce_len = nonce_len;
	wr.request_hash = hash;
	dispatch_count_redemption(out);
	if (dispatch_reply(d, peer, "activate", out, false, &wr, &sink) == 0)
		return 0;
	/* owner counted on this reply (conn.c's pending): let it close. */
	batch_lost(loop->batch, owner);
	return -1;
}

/* Answer one request message with a directly signed frame: see dispatch.h. */
int
dispatch_frame(struct daemon *d, const struct dispatch_peer *peer,
    const uint8_t *msg, size_t len, uint8_t **frame, size_t *framelen,
    bool *close_after)
{
	struct dispatch_sink	sink = { .frame = frame, .framelen = framelen };
	bool			deferred;

	*frame = NULL;
	*framelen = 0;
	return dispatch_answer(d, peer, msg, len, &sink, false, close_after,
	    &deferred);
}

/* Answer one request message into a batch: see dispatch.h. */
int
dispatch_frame_batch(struct daemon *d, const struct dispatch_peer *peer,
    const uint8_t *msg, size_t len, struct dispatch_loop *loop, void *owner,
    bool held, bool *close_after, bool *deferred)
{
	struct dispatch_sink	sink = { .loop = loop, .owner = owner };

	return dispatch_answer(d, peer, msg, len, &sink, held, close_after,
	    deferred);
}

/* An Error reply to no request in particular, into sink. */
static int
dispatch_error(struct daemon *d, const struct dispatch_peer *peer,
    const char *reason, const char *detail, const struct dispatch_sink *sink)
{
	struct wire_reply	wr;

	memset(&wr, 0, sizeof(wr));
	wr.error_reason = reason;
	wr.error_detail = detail;
	log_debug("peer %s: frame: error %s (%s)", peer->text, reason, detail);
	metrics_count_request(METRICS_REQ_UNREADABLE);
	if (dispatch_emit(d, &wr, sink) == -1)
		return -1;
	metrics_count_reply(true, reason);
	return 0;
}

/* A signed Error reply to no request in particular: see dispatch.h. */
int
dispatch_error_frame(struct daemon *d, const struct dispatch_peer *peer,
    const char *reason, const char *detail, uint8_t **frame, size_t *framelen)
{
	struct dispatch_sink	sink = { .frame = frame, .framelen = framelen };

	*frame = NULL;
	*framelen = 0;
	return dispatch_error(d, peer, reason, detail, &sink);
}

/* The same into a batch: see dispatch.h. */
int
dispatch_error_batch(struct daemon *d, const struct dispatch_peer *peer,
    const char *reason, const char *detail, struct dispatch_loop *loop,
    void *owner)
{
	struct dispatch_sink	sink = { .loop = loop, .owner = owner };

	return dispatch_error(d, peer, reason, detail, &sink);
}
