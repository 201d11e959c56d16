/*
 * One public TCP connection: a non-blocking bufferevent, its frames, its
 * timers and its replies. listen.c creates connections and keeps the list;
 * conn.c runs them and says when one is gone.
 */
#ifndef KG_CONN_H
#define KG_CONN_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stdint.h>

#include <event2/util.h>

#include "dispatch.h"

struct batch;
struct daemon;
struct event_base;
struct bufferevent;
struct event;
struct conn;

/* Called once when a connection closes, just before it is freed. */
typedef void (*conn_gone_fn)(void *arg, struct conn *c);

enum conn_timer {
	CONN_TIMER_IDLE,	/* no frame pending: conf.idle_timeout */
	CONN_TIMER_READ,	/* a frame started: conf.read_timeout to finish it */
	CONN_TIMER_LINGER,	/* closing: discard input a little while */
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;		/* the listener's list */
	struct daemon		*d;
	struct dispatch_loop	*loop;		/* the listener's: signs the replies */
	unsigned		 pending;	/* replies queued in the batch, or waiting */
	unsigned		 held;		/* activate requests waiting to commit */
	struct bufferevent	*bev;		/* writes what send() did not take */
	struct event		*rev;		/* the socket is readable */
	struct event		*timer;
	size_t			 in_max;	/* input bytes at most: one frame */
	enum conn_timer		 timer_kind;
	struct dispatch_peer	 peer;
	conn_gone_fn		 gone;
	void			*gone_arg;
	bool			 closing;	/* close once the output is flushed */
	bool			 draining;	/* listener stopping: close when idle */
	bool			 paused;	/* output at the high-water mark */
	bool			 lingering;	/* write side shut down, discarding input */
	bool			 dropped;	/* given up: freed by its timer */
	bool			 eof;		/* the peer shut down its side */
	bool			 reading;	/* rev is added */
	uint64_t		 active_at;	/* accepted or last request (ns, monotonic) */
};

TAILQ_HEAD(conn_list, conn);

/*
 * Start serving the accepted, non-blocking socket fd from peer sa on base
 * (the accepting worker's); replies
 * are signed in loop's batch, which must have been made with
 * conn_batch_deliver.
 * gone is called (with arg) when the connection closes. Returns the
 * connection, or NULL (logged) with fd closed.
 */
struct conn	*conn_new(struct daemon *d, struct event_base *base,
		    struct dispatch_loop *loop, evutil_socket_t fd,
		    const struct sockaddr *sa, socklen_t salen, conn_gone_fn gone,
		    void *arg);

/*
 * The batch's deliver function (batch_deliver_fn): owner is a struct conn,
 * frame one of its replies, signed, or NULL when signing failed (then the
 * connection is closed from its timer).
 */
void		 conn_batch_deliver(void *owner, const uint8_t *frame,
		    size_t len);

/*
 * The dispatch_loop's unhold: owner's (a struct conn's) activate request has
 * its reply in the batch now; once none waits, the frames left in its input
 * are answered (from the loop, not from inside this call).
 */
void		 conn_unhold(void *owner);

/* Close the connection now, tell its listener, and free it. */
void		 conn_free(struct conn *c);

/*
 * The listener is stopping: close the connection at once when nothing is in
 * flight, otherwise once its pending replies are sent.
 */
void		 conn_drain(struct conn *c);

/*
 * True when c may be closed to make room for a new connection at the
 * connection cap: it is not already closing (an error reply on its way).
 * Among those the listener closes the one with the oldest active_at.
 */
bool		 conn_evictable(const struct conn *c);

#endif
