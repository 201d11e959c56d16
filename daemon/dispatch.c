/*
 * Dispatch of public requests: the message bytes of one frame are decoded and
 * validated (wire.c), the body is routed to its handler, and the handler's
 * Verdict or Error becomes a signed reply frame carrying the request's nonce,
 * its hash and the server time. Protocol and validation errors are answered
 * here; an unreadable request is answered and the connection marked to close.
 * One debug line per request: peer, request type, result.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "daemon.h"
#include "date.h"
#include "dispatch.h"
#include "log.h"
#include "renew.h"
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

/* Route a valid request to its handler. */
static void
dispatch_route(const struct request_ctx *rc, const Keygate__Request *m,
    struct handler_reply *out)
{
	switch (m->body_case) {
	case KEYGATE__REQUEST__BODY_CHECK:
		check_handle(rc, m->check, out);
		break;
	case KEYGATE__REQUEST__BODY_STATUS:
		check_status_handle(rc, m->status, out);
		break;
	case KEYGATE__REQUEST__BODY_ACTIVATE:
		renew_handle(rc, m->activate, out);
		break;
	default:
		/* wire_request_decode lets no other case through. */
		handler_reply_error(out, "internal", "unroutable request");
		break;
	}
}

static int
reply_sign(struct daemon *d, struct wire_reply *wr, uint8_t **frame,
    size_t *framelen)
{
	wr->server_time = daemon_now(d);
	wr->test_clock = d->test_clock;
	if (d->test_clock) {
		char	day[KG_DATE_TEXT_LEN];

		date_format(date_from_time((time_t)wr->server_time), day);
		log_warn("TEST CLOCK: signing a reply dated %s (test clock)", day);
	}
	return wire_reply_encode(d->signer, wr, frame, framelen);
}

/* Answer one request message: see dispatch.h. */
int
dispatch_frame(struct daemon *d, const struct dispatch_peer *peer,
    const uint8_t *msg, size_t len, uint8_t **frame, size_t *framelen,
    bool *close_after)
{
	struct wire_request	 req;
	struct handler_reply	 out;
	struct request_ctx	 rc = { .d = d, .peer = peer };
	struct wire_reply	 wr;
	enum wire_decode	 dec;
	int			 rv;

	*frame = NULL;
	*framelen = 0;
	*close_after = false;
	handler_reply_init(&out);
	memset(&wr, 0, sizeof(wr));

	dec = wire_request_decode(msg, len, wire_budget_for(d->conf.frame_max),
	    &req);
	wr.nonce = req.nonce;
	wr.nonce_len = req.nonce_len;
	wr.request_hash = req.hash;
	if (dec == WIRE_DECODE_OK) {
		dispatch_route(&rc, req.msg, &out);
	} else {
		handler_reply_error(&out, reason_name(req.reason), "%s", req.detail);
		*close_after = dec == WIRE_DECODE_UNREADABLE;
	}

	if (out.error != NULL) {
		wr.error_reason = out.error;
		wr.error_detail = out.detail;
		log_debug("peer %s: %s%s%s: error %s (%s)%s", peer->text,
		    req.msg != NULL ? wire_request_type(req.msg) : "unreadable frame",
		    out.log[0] ? " " : "", out.log, out.error, out.detail,
		    *close_after ? "; closing" : "");
	} else {
		wr.verdict = &out.verdict;
		log_debug("peer %s: %s%s%s: %s%s%s", peer->text,
		    wire_request_type(req.msg), out.log[0] ? " " : "", out.log,
		    out.verdict.verdict[0] ? out.verdict.verdict : "",
		    out.verdict.verdict[0] ? "/" : "", out.verdict.reason);
	}
	rv = reply_sign(d, &wr, frame, framelen);
	handler_reply_clear(&out);
	wire_request_clear(&req);
	return rv;
}

/* A signed Error reply to no request in particular. */
int
dispatch_error_frame(struct daemon *d, const struct dispatch_peer *peer,
    const char *reason, const char *detail, uint8_t **frame, size_t *framelen)
{
	struct wire_reply	wr;

	memset(&wr, 0, sizeof(wr));
	wr.error_reason = reason;
	wr.error_detail = detail;
	log_debug("peer %s: frame: error %s (%s)", peer->text, reason, detail);
	return reply_sign(d, &wr, frame, framelen);
}
