/*
 * Unit tests of when a reply batch closes (daemon/batch.c): a batch of
 * fewer than BATCH_WAIT_BELOW replies is signed after the loop has polled
 * once more without waiting, so the requests that came while a turn was
 * served join the replies of that turn under one signature, and polls on
 * while polls bring requests (BATCH_POLLS_MAX in all); a larger one
 * is signed at the end of its turn, or before it when it has waited
 * BATCH_AGE_MAX_US (a burst of requests is answered a part at a time); an
 * idle loop signs a lone reply directly, waiting for nothing. The batch signs with a real signer
 * process (keys from a fixed seed); a socketpair stands for a client whose
 * request arrives during the turn.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "batch.h"
#include "daemon.h"
#include "keygate.pb-c.h"
#include "keys.h"
#include "kgerr.h"
#include "merkle.h"
#include "signer.h"
#include "signer_fixture.h"
#include "wire.h"

#define SEED		0x5b

_Static_assert(BATCH_POLLS_MAX > 1, "a batch polls more than once while it grows");
#define FRAMES_MAX	(BATCH_WAIT_BELOW + 8)

/* What the batch handed over, in order. */
static struct {
	int	owner[FRAMES_MAX];
	uint8_t	frame[FRAMES_MAX][1024];
	size_t	len[FRAMES_MAX];
	size_t	n;
} got;

/* Run the loop a turn at a time until something is handed over; the turns. */
static int
turns_until_delivered(struct event_base *base)
{
	int	turns = 0;

	while (got.n == 0 && turns < 10) {
		assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
		turns++;
	}
	assert_true(got.n > 0);
	return turns;
}

static void
deliver(void *owner, const uint8_t *frame, size_t len)
{
	assert_non_null(frame);
	assert_true(got.n < FRAMES_MAX);
	assert_true(len <= sizeof(got.frame[0]));
	got.owner[got.n] = *(int *)owner;
	memcpy(got.frame[got.n], frame, len);
	got.len[got.n++] = len;
}

/* A reply as a check would give one, nonce byte n. */
static void
reply_add(struct batch *b, int *owner, uint8_t n)
{
	static Keygate__Verdict	v = KEYGATE__VERDICT__INIT;
	uint8_t			nonce[16], hash[KG_HASH_LEN];
	struct wire_reply	r;

	memset(nonce, n, sizeof(nonce));
	memset(hash, 0xa0 + n, sizeof(hash));
	memset(&r, 0, sizeof(r));
	r.nonce = nonce;
	r.nonce_len = sizeof(nonce);
	r.request_hash = hash;
	r.server_time = 1700000000;
	r.verdict = &v;
	assert_int_equal(batch_add(b, owner, &r), 0);
}

/*
 * Frame i verifies under pk (merkle_reply_verify): directly (want_depth 0)
 * or in a batch with a path of want_depth hashes. Its nonce byte is
 * returned.
 */
static uint8_t
frame_check(size_t i, const uint8_t pk[KG_PUBKEY_LEN], size_t want_depth)
{
	Keygate__Reply		*rep;
	Keygate__ReplyBody	*body;
	uint8_t			 path[KG_MERKLE_DEPTH_MAX][KG_MERKLE_HASH_LEN];
	size_t			 k;
	uint8_t			 nonce;

	assert_true(got.len[i] > 4);
	rep = keygate__reply__unpack(NULL, got.len[i] - 4, got.frame[i] + 4);
	assert_non_null(rep);
	assert_int_equal(rep->signature.len, KG_SIG_LEN);
	assert_int_equal(rep->n_batch_path, want_depth);
	assert_true(want_depth <= KG_MERKLE_DEPTH_MAX);
	for (k = 0; k < rep->n_batch_path; k++) {
		assert_int_equal(rep->batch_path[k].len, KG_MERKLE_HASH_LEN);
		memcpy(path[k], rep->batch_path[k].data, KG_MERKLE_HASH_LEN);
	}
	assert_int_equal(merkle_reply_verify(pk, rep->body.data, rep->body.len,
	    rep->signature.data, rep->batch_index,
	    (const uint8_t (*)[KG_MERKLE_HASH_LEN])path, rep->n_batch_path),
	    KGE_OK);
	body = keygate__reply_body__unpack(NULL, rep->body.len, rep->body.data);
	assert_non_null(body);
	assert_int_equal(body->nonce.len, 16);
	nonce = body->nonce.data[0];
	keygate__reply_body__free_unpacked(body, NULL);
	keygate__reply__free_unpacked(rep, NULL);
	return nonce;
}

struct fixture {
	struct daemon		 d;	/* zeroed: its lock is usable */
	struct event_base	*base;
	struct batch		*b;
	struct kg_keypair	*kp;
	int			 sv[2];
	struct event		*ev;
	int			 late;	/* the owner whose request comes late */
	int			 chain;	/* late requests still to send, one a poll */
};

/* The late client's request is readable: read it, queue its reply. */
static void
late_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fixture	*f = arg;
	char		 c;

	(void)what;
	assert_int_equal(read(fd, &c, 1), 1);
	reply_add(f->b, &f->late, (uint8_t)c);
	/* The next one comes while this turn is served: the next poll's. */
	if (f->chain > 0) {
		f->chain--;
		c++;
		assert_int_equal(write(f->sv[1], &c, 1), 1);
	}
}

static void
fixture_open(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	key_write("batch.key", SEED, NULL);
	f->d.signer = open_ok("batch.key", NULL);
	assert_non_null(f->kp = seed_keypair(SEED));
	assert_memory_equal(signer_pubkey(f->d.signer), f->kp->pk,
	    KG_PUBKEY_LEN);
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->b = batch_new(&f->d, f->base, deliver));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
	f->ev = event_new(f->base, f->sv[0], EV_READ | EV_PERSIST,
	    late_read_cb, f);
	assert_non_null(f->ev);
	assert_int_equal(event_add(f->ev, NULL), 0);
	f->late = 2;
	memset(&got, 0, sizeof(got));
}

static void
fixture_close(struct fixture *f)
{
	event_free(f->ev);
	close(f->sv[0]);
	close(f->sv[1]);
	batch_free(f->b);
	event_base_free(f->base);
	keypair_free(f->kp);
	signer_close(f->d.signer);
}

/* The next delivery is one reply of owner's, signed directly, nonce byte n. */
static void
lone_reply_next(struct fixture *f, int owner, uint8_t n)
{
	got.n = 0;
	turns_until_delivered(f->base);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.owner[0], owner);
	assert_int_equal(frame_check(0, f->kp->pk, 0), n);
}

/*
 * A reply queued in a turn, and a request that comes before the loop polls
 * again: one batch of two, each reply verifying with its path.
 */
static void
test_late_request_joins(void **state)
{
	struct fixture	f;
	int		first = 1;

	(void)state;
	fixture_open(&f);
	reply_add(f.b, &first, 1);
	/* It came while the turn that queued the first was served. */
	assert_int_equal(write(f.sv[1], "\x07", 1), 1);
	turns_until_delivered(f.base);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.owner[0], 1);
	assert_int_equal(got.owner[1], 2);
	assert_int_equal(frame_check(0, f.kp->pk, 1), 1);
	assert_int_equal(frame_check(1, f.kp->pk, 1), 7);
	fixture_close(&f);
}

/*
 * Requests that keep coming, one a poll: the batch takes the replies of its
 * turn and those of BATCH_POLLS_MAX polls more, then is signed; the one
 * after makes the next batch.
 */
static void
test_polls_while_growing(void **state)
{
	struct fixture	f;
	int		first = 1;
	size_t		i, n;

	(void)state;
	fixture_open(&f);
	f.chain = BATCH_POLLS_MAX + 1;
	reply_add(f.b, &first, 1);
	/* The turn's other request. */
	assert_int_equal(write(f.sv[1], "\x20", 1), 1);
	turns_until_delivered(f.base);
	n = 2 + BATCH_POLLS_MAX;
	assert_int_equal(got.n, n);
	assert_int_equal(got.owner[0], 1);
	assert_int_equal(frame_check(0, f.kp->pk, 3), 1);
	for (i = 1; i < n; i++) {
		assert_int_equal(got.owner[i], 2);
		assert_int_equal(frame_check(i, f.kp->pk, 3), 0x20 + i - 1);
	}
	/* The last one came after: signed alone, directly. */
	lone_reply_next(&f, 2, (uint8_t)(0x20 + n - 1));
	fixture_close(&f);
}

/*
 * BATCH_WAIT_BELOW replies at the end of a turn are signed then: the
 * request that comes meanwhile makes a batch of its own (a direct reply).
 */
static void
test_large_batch_does_not_wait(void **state)
{
	struct fixture	f;
	int		first = 1;
	size_t		i;

	(void)state;
	fixture_open(&f);
	for (i = 0; i < BATCH_WAIT_BELOW; i++)
		reply_add(f.b, &first, (uint8_t)(10 + i));
	assert_int_equal(write(f.sv[1], "\x07", 1), 1);
	turns_until_delivered(f.base);
	assert_int_equal(got.n, BATCH_WAIT_BELOW);
	for (i = 0; i < BATCH_WAIT_BELOW; i++)
		assert_int_equal(frame_check(i, f.kp->pk, 5), 10 + i);
	lone_reply_next(&f, 2, 7);
	fixture_close(&f);
}

static uint64_t
mono_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * A long turn (a burst): BATCH_WAIT_BELOW replies that have waited
 * BATCH_AGE_MAX_US are signed when the next one is added, in the turn, and
 * that one starts a batch of its own. Younger, they would have waited for
 * the end of the turn.
 */
static void
test_old_batch_signed_in_turn(void **state)
{
	struct fixture	f;
	struct timespec	age = { 0, (long)BATCH_AGE_MAX_US * 2000L };
	uint64_t	t0;
	int		first = 1, next = 3;
	size_t		i;

	(void)state;
	fixture_open(&f);
	t0 = mono_us();
	for (i = 0; i < BATCH_WAIT_BELOW; i++)
		reply_add(f.b, &first, (uint8_t)(10 + i));
	reply_add(f.b, &first, 9);
	if (mono_us() - t0 < BATCH_AGE_MAX_US)
		assert_int_equal(got.n, 0);	/* young: it waits */
	for (i = 0; i < 10 && got.n < BATCH_WAIT_BELOW + 1; i++)
		assert_int_equal(event_base_loop(f.base, EVLOOP_ONCE), 0);
	assert_int_equal(got.n, BATCH_WAIT_BELOW + 1);
	got.n = 0;

	for (i = 0; i < BATCH_WAIT_BELOW; i++)
		reply_add(f.b, &first, (uint8_t)(10 + i));
	nanosleep(&age, NULL);
	reply_add(f.b, &next, 7);
	/* Signed and handed over in the turn, before the loop ran again. */
	assert_int_equal(got.n, BATCH_WAIT_BELOW);
	for (i = 0; i < BATCH_WAIT_BELOW; i++) {
		assert_int_equal(got.owner[i], 1);
		assert_int_equal(frame_check(i, f.kp->pk, 5), 10 + i);
	}
	lone_reply_next(&f, 3, 7);
	fixture_close(&f);
}

/*
 * An idle loop: a lone reply is signed directly, within two turns (the
 * batch waits for nothing but a poll that finds nothing).
 */
static void
test_lone_reply_direct(void **state)
{
	struct fixture	f;
	struct timespec	t0, t1;
	int		first = 1;

	(void)state;
	fixture_open(&f);
	reply_add(f.b, &first, 3);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* EVLOOP_ONCE would block had the batch waited for an event. */
	assert_true(turns_until_delivered(f.base) <= 2);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(got.n, 1);
	assert_int_equal(frame_check(0, f.kp->pk, 0), 3);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	fixture_close(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_late_request_joins),
		cmocka_unit_test(test_polls_while_growing),
		cmocka_unit_test(test_large_batch_does_not_wait),
		cmocka_unit_test(test_old_batch_signed_in_turn),
		cmocka_unit_test(test_lone_reply_direct),
	};

	return cmocka_run_group_tests(tests, signer_fixture_setup,
	    signer_fixture_teardown);
}
