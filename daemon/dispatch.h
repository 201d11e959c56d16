/*
 * Request dispatch on the public TCP port: one request message in, one signed
 * reply frame out. dispatch.c decodes the message (wire.c), routes its body to
 * a handler (check.c; renew.c for activation), and builds the reply. It knows
 * nothing of sockets: conn.c hands it the message bytes of one frame.
 */
#ifndef KG_DISPATCH_H
#define KG_DISPATCH_H

#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keygate.pb-c.h"
#include "kglimits.h"

struct batch;
struct daemon;

/* Who sent a request. */
struct dispatch_peer {
	char	host[INET6_ADDRSTRLEN];		/* address only, for audit actors */
	char	text[INET6_ADDRSTRLEN + 8];	/* "host:port" or "[v6]:port", for logs */
};

struct renew_queue;
struct wire_request;

/* What one event loop answers with: its reply batch and its redemptions. */
struct dispatch_loop {
	struct batch		*batch;
	struct renew_queue	*renew;		/* activate requests waiting to commit */
	/* owner's activate request was answered: it may go on (conn.c) */
	void			(*unhold)(void *owner);
};

/* What a handler is given. */
struct request_ctx {
	struct daemon			*d;
	const struct dispatch_peer	*peer;
	const struct wire_request	*req;	/* nonce and hash, for a deferred reply */
	struct dispatch_loop		*loop;	/* NULL: answer at once */
	void				*owner;	/* the reply's owner in loop->batch */
};

#define HANDLER_DETAIL_MAX	(KG_REASON_TEXT_MAX + 64)
#define HANDLER_LOG_MAX		160

/*
 * A handler's answer: a Verdict, Rotations, or an Error reason. Initialise with
 * handler_reply_init; the Verdict's strings point into this struct or to
 * static names; release with handler_reply_clear.
 */
struct handler_reply {
	const char		*error;		/* NULL: answer verdict; else an Error reason code */
	char			 detail[HANDLER_DETAIL_MAX];	/* Error.detail or Verdict.detail */
	Keygate__Verdict	 verdict;
	Keygate__Quote		 quote;
	Keygate__Renewal	 renewal;
	char			 eligible[KG_VERSION_TEXT_MAX];
	char			 latest[KG_VERSION_TEXT_MAX];
	char			 regno[KG_REGNO_MAX + 1];
	char			 licensee[KG_LICENSEE_MAX + 1];
	char			 product[KG_CODE_MAX + 1];
	char			 edition[KG_CODE_MAX + 1];
	char			 act[KG_CODE_MAX + 1];
	char			*key;		/* malloc'd re-signed key text, or NULL */
	Keygate__Rotations	*rotations;	/* a RotationsRequest's answer (rotation.h), or NULL */
	char			 log[HANDLER_LOG_MAX];	/* request summary for the log line */
	bool			 deferred;	/* the handler kept a place in the batch */
};

/* An empty reply (Verdict with every field unset, no error). */
void	handler_reply_init(struct handler_reply *r);

/* Free what the reply owns (the re-signed key text, the rotations). */
void	handler_reply_clear(struct handler_reply *r);

/* Make r an Error reply with reason (a reason code) and detail (printf format). */
void	handler_reply_error(struct handler_reply *r, const char *reason,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Answer the len bytes of one request message (a frame without its header;
 * len may be 0): decode, validate, handle, sign. *frame (malloc'd, caller
 * frees) is the reply frame with its header. *close_after says the
 * connection must be closed once the reply is sent (the request was
 * unreadable). Logs one debug line: peer, request type, result. Returns 0,
 * or -1 (logged) when no reply could be built: close the connection.
 */
int	dispatch_frame(struct daemon *d, const struct dispatch_peer *peer,
	    const uint8_t *msg, size_t len, uint8_t **frame, size_t *framelen,
	    bool *close_after);

/*
 * The same, but the reply body goes into loop's batch for owner
 * (batch_add): it is signed with the other replies of this loop turn and
 * handed to owner then. An activate request's reply waits for its group
 * commit (renew.c): *deferred is then set, and the reply comes later,
 * after which loop->unhold(owner) is called. While held (an activate
 * request of owner's still waits) only further activate requests are
 * taken, to join the same or the next group in order; anything else
 * returns 1 untouched, to be answered once owner is no longer held, so
 * that it sees the renewal and its reply follows the activation's.
 * 0 when answered (or deferred), 1 when left for later, or -1 (logged)
 * when no reply could be queued: close.
 */
int	dispatch_frame_batch(struct daemon *d, const struct dispatch_peer *peer,
	    const uint8_t *msg, size_t len, struct dispatch_loop *loop,
	    void *owner, bool held, bool *close_after, bool *deferred);

/*
 * Finish a reply whose handler deferred it (handler_reply.deferred): out is
 * the handler's answer now, nonce and hash the request's; the reply goes
 * into loop's batch for owner. Logs and counts it as dispatch_frame does.
 * 0, or -1 when it could not be queued: then owner has been handed a NULL
 * frame (batch_lost), so it closes rather than wait for it.
 */
int	dispatch_deferred_done(struct daemon *d, const struct dispatch_peer *peer,
	    const uint8_t *nonce, size_t nonce_len, const uint8_t *hash,
	    struct handler_reply *out, struct dispatch_loop *loop, void *owner);

/*
 * A signed Error reply to no request in particular (empty nonce and
 * request_hash): an oversize frame, a frame not received in time. 0 or -1.
 */
int	dispatch_error_frame(struct daemon *d, const struct dispatch_peer *peer,
	    const char *reason, const char *detail, uint8_t **frame,
	    size_t *framelen);

/* The same into loop's batch for owner. 0 or -1. */
int	dispatch_error_batch(struct daemon *d, const struct dispatch_peer *peer,
	    const char *reason, const char *detail, struct dispatch_loop *loop,
	    void *owner);

#endif
