/*
 * Unit tests of bulk signing (daemon/signer_many.c, SIGNER_OP_SIGN_MANY in
 * signer_proc.c): sign-many requests give exactly the signatures an
 * in-process key gives (Ed25519 is deterministic), whatever the order they
 * are collected in, with every slot taken and at the size limits, and only
 * in the license domain; bad requests are refused without a round trip,
 * malformed packets by the process itself (spoken to raw over a
 * socketpair) without it dying; signer_sign and the idle watch between a
 * submit and its collect keep the replies for it; a process killed or
 * stopped with requests outstanding is restarted and sent them again;
 * cancelled requests are dropped. Keys come from fixed seeds.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sodium.h>

#include "kgerr.h"
#include "keys.h"
#include "signer.h"
#include "signer_fixture.h"
#include "signer_int.h"
#include "signer_proc.h"

#define SEED		0x42

static char	keypath[256];

/* The fixture's, and the key file every test signs with: tmpdir/plain.key. */
static int
setup(void **state)
{
	struct kg_keypair	*kp;

	if (signer_fixture_setup(state) != 0)
		return -1;
	tpath(keypath, sizeof(keypath), "plain.key");
	if ((kp = seed_keypair(SEED)) == NULL ||
	    keyfile_write(keypath, kp, NULL, crypto_pwhash_OPSLIMIT_MIN,
	    crypto_pwhash_MEMLIMIT_MIN) != KGE_OK)
		return -1;
	keypair_free(kp);
	return 0;
}

/* n payloads of lengths from 1 up, bytes from seed, in one buffer. */
struct payloads {
	uint8_t		 buf[SIGNER_MSG_MAX];
	const uint8_t	*ptr[SIGNER_MANY_MAX];
	size_t		 len[SIGNER_MANY_MAX];
	size_t		 n;
};

static void
payloads_make(struct payloads *p, size_t n, size_t len, uint8_t seed)
{
	size_t	i, j, off = 0;

	assert_true(n <= SIGNER_MANY_MAX);
	for (i = 0; i < n; i++) {
		assert_true(off + len <= sizeof(p->buf));
		for (j = 0; j < len; j++)
			p->buf[off + j] = (uint8_t)(seed + i * 31 + j);
		p->ptr[i] = p->buf + off;
		p->len[i] = len;
		off += len;
	}
	p->n = n;
}

/* Each signature is the in-process key's, in the license domain only. */
static void
payloads_check(const struct payloads *p, uint8_t (*sig)[KG_SIG_LEN])
{
	struct kg_keypair	*kp = seed_keypair(SEED);
	uint8_t			 want[KG_SIG_LEN];
	size_t			 i;

	for (i = 0; i < p->n; i++) {
		assert_int_equal(keys_sign(kp, KG_DOMAIN_LICENSE, p->ptr[i],
		    p->len[i], want), KGE_OK);
		assert_memory_equal(sig[i], want, KG_SIG_LEN);
		assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, p->ptr[i],
		    p->len[i], sig[i]), KGE_KEY_SIGNATURE);
	}
	keypair_free(kp);
}

/* Every slot taken, collected backwards: each gets its own signatures. */
static void
test_many_matches_key(void **state)
{
	/* The most that fit: 512 of 120 bytes, 64 of KG_PAYLOAD_MAX; 1 of 1. */
	static const size_t	 counts[] = { SIGNER_MANY_MAX, 64, 1 };
	static const size_t	 lens[] = { 120, KG_PAYLOAD_MAX, 1 };
	struct payloads		*p;
	struct signer		*s;
	uint8_t			(*sig)[KG_SIG_LEN];
	uint64_t		 t[SIGNER_MANY_SLOTS], extra;
	size_t			 i;

	(void)state;
	assert_non_null(p = calloc(SIGNER_MANY_SLOTS, sizeof(*p)));
	assert_non_null(sig = calloc(SIGNER_MANY_MAX, KG_SIG_LEN));
	s = open_ok("plain.key", NULL);
	for (i = 0; i < SIGNER_MANY_SLOTS; i++) {
		payloads_make(&p[i], counts[i % 3], lens[i % 3], (uint8_t)i);
		assert_true(signer_many_fits(p[i].n, p[i].n * lens[i % 3]));
		assert_int_equal(signer_many_submit(s, p[i].ptr, p[i].len,
		    p[i].n, &t[i]), 0);
		assert_int_equal(signer_many_outstanding(s), i + 1);
		if (i > 0)
			assert_true(t[i] > t[i - 1]);
	}
	/* Every slot is taken: come back later, nothing lost. */
	assert_int_equal(signer_many_submit(s, p[0].ptr, p[0].len, 1, &extra),
	    1);
	assert_int_equal(signer_many_outstanding(s), SIGNER_MANY_SLOTS);
	for (i = SIGNER_MANY_SLOTS; i-- > 0;) {
		assert_int_equal(signer_many_collect(s, t[i], sig, p[i].n), 0);
		payloads_check(&p[i], sig);
	}
	assert_int_equal(signer_many_outstanding(s), 0);
	/* A ticket is collected once. */
	assert_int_equal(signer_many_collect(s, t[0], sig, p[0].n), -1);
	assert_false(signer_failed(s));
	signer_close(s);
	free(sig);
	free(p);
}

/* Bad requests are refused before anything is sent. */
static void
test_many_refused(void **state)
{
	struct payloads	*p;
	struct signer	*s;
	uint8_t		 sig[2][KG_SIG_LEN], msg[16], one[KG_SIG_LEN];
	const uint8_t	*ptr[2];
	size_t		 len[2];
	uint64_t	 t;
	pid_t		 before, after;

	(void)state;
	assert_non_null(p = calloc(1, sizeof(*p)));
	s = open_ok("plain.key", NULL);
	before = signer_child();
	memset(msg, 1, sizeof(msg));
	ptr[0] = ptr[1] = msg;
	len[0] = len[1] = sizeof(msg);
	assert_int_equal(signer_many_submit(s, ptr, len, 0, &t), -1);
	len[1] = 0;
	assert_int_equal(signer_many_submit(s, ptr, len, 2, &t), -1);
	len[1] = KG_PAYLOAD_MAX + 1;
	assert_int_equal(signer_many_submit(s, ptr, len, 2, &t), -1);
	ptr[1] = NULL;
	len[1] = sizeof(msg);
	assert_int_equal(signer_many_submit(s, ptr, len, 2, &t), -1);
	/* More than SIGNER_MANY_MAX, and more bytes than one request holds. */
	assert_false(signer_many_fits(SIGNER_MANY_MAX + 1, 10));
	assert_false(signer_many_fits(65, 65 * KG_PAYLOAD_MAX));
	assert_true(signer_many_fits(64, 64 * KG_PAYLOAD_MAX));
	/* Collecting what was never submitted, or with the wrong count. */
	assert_int_equal(signer_many_collect(s, 12345, sig, 2), -1);
	payloads_make(p, 2, 50, 9);
	assert_int_equal(signer_many_submit(s, p->ptr, p->len, 2, &t), 0);
	assert_int_equal(signer_many_collect(s, t, sig, 1), -1);
	assert_int_equal(signer_many_collect(s, t, sig, 2), 0);
	payloads_check(p, sig);
	assert_int_equal(signer_many_outstanding(s), 0);
	/* The same process still signs. */
	assert_int_equal(signer_sign(s, KG_DOMAIN_LICENSE, msg, sizeof(msg),
	    one), 0);
	after = signer_child();
	assert_int_equal(before, after);
	assert_false(signer_failed(s));
	signer_close(s);
	free(p);
}

/* Send one raw request packet on fd (the reply is read apart). */
static void
raw_send(int fd, uint32_t type, const uint8_t *msg, size_t len)
{
	uint8_t		*pkt;
	uint32_t	 v = (uint32_t)len;

	assert_non_null(pkt = malloc(SIGNER_REQ_HEADER + len));
	memcpy(pkt, &type, 4);
	memcpy(pkt + 4, &v, 4);
	if (len > 0)
		memcpy(pkt + SIGNER_REQ_HEADER, msg, len);
	assert_int_equal(send(fd, pkt, SIGNER_REQ_HEADER + len, 0),
	    (ssize_t)(SIGNER_REQ_HEADER + len));
	free(pkt);
}

/* Send one raw request packet and read the reply's status and length. */
static uint32_t
raw_request(int fd, uint32_t type, const uint8_t *msg, size_t len,
    size_t *rlen)
{
	uint8_t		reply[SIGNER_MANY_REPLY_MAX];
	uint32_t	status;
	ssize_t		n;

	raw_send(fd, type, msg, len);
	n = recv(fd, reply, sizeof(reply), 0);
	assert_true(n >= 4);
	memcpy(&status, reply, 4);
	*rlen = (size_t)n;
	return status;
}

/* The process itself refuses malformed sign-many packets and lives on. */
static void
test_proc_refuses(void **state)
{
	uint8_t		 msg[64], hello[SIGNER_HELLO_MAX];
	uint32_t	 v;
	size_t		 rlen;
	pid_t		 pid;
	int		 sv[2], st;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		close(sv[0]);
		signer_proc_main(sv[1], -1, keypath, NULL);
	}
	close(sv[1]);
	assert_true(recv(sv[0], hello, sizeof(hello), 0) >= SIGNER_HELLO_HEADER);
	memcpy(&v, hello, 4);
	assert_int_equal(v, KGE_OK);
	/* Too short for a count; a count of 0; one over the maximum. */
	assert_int_equal(raw_request(sv[0], SIGNER_OP_SIGN_MANY, msg, 2, &rlen),
	    SIGNER_STATUS_REFUSED);
	assert_int_equal(rlen, SIGNER_REPLY_LEN);
	v = 0;
	memcpy(msg, &v, 4);
	assert_int_equal(raw_request(sv[0], SIGNER_OP_SIGN_MANY, msg, 4, &rlen),
	    SIGNER_STATUS_REFUSED);
	v = SIGNER_MANY_MAX + 1;
	memcpy(msg, &v, 4);
	assert_int_equal(raw_request(sv[0], SIGNER_OP_SIGN_MANY, msg, 4, &rlen),
	    SIGNER_STATUS_REFUSED);
	/* Two announced, one there; a length past the end; bytes left over. */
	v = 2;
	memcpy(msg, &v, 4);
	v = 3;
	memcpy(msg + 4, &v, 4);
	memcpy(msg + 8, "abc", 3);
	assert_int_equal(raw_request(sv[0], SIGNER_OP_SIGN_MANY, msg, 11, &rlen),
	    SIGNER_STATUS_REFUSED);
	v = 1;
	memcpy(msg, &v, 4);
	v = 40;
	memcpy(msg + 4, &v, 4);
	assert_int_equal(raw_request(sv[0], SIGNER_OP_SIGN_MANY, msg, 11, &rlen),
	    SIGNER_STATUS_REFUSED);
	v = 3;
	memcpy(msg + 4, &v, 4);
	assert_int_equal(raw_request(sv[0], SIGNER_OP_SIGN_MANY, msg, 12, &rlen),
	    SIGNER_STATUS_REFUSED);
	/* A zero-length payload. */
	v = 0;
	memcpy(msg + 4, &v, 4);
	assert_int_equal(raw_request(sv[0], SIGNER_OP_SIGN_MANY, msg, 8, &rlen),
	    SIGNER_STATUS_REFUSED);
	/* And a good one: one signature after the header. */
	v = 3;
	memcpy(msg + 4, &v, 4);
	assert_int_equal(raw_request(sv[0], SIGNER_OP_SIGN_MANY, msg, 11, &rlen),
	    SIGNER_STATUS_OK);
	assert_int_equal(rlen, SIGNER_MANY_REPLY_HEADER + KG_SIG_LEN);
	close(sv[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Killed or stopped with requests outstanding: restarted, sent them again. */
static void
test_many_restart(void **state)
{
	struct payloads	*p;
	struct signer	*s;
	uint8_t		(*sig)[KG_SIG_LEN];
	uint64_t	 t[SIGNER_MANY_INFLIGHT];
	pid_t		 p1, p2, p3;
	size_t		 i;

	(void)state;
	assert_non_null(p = calloc(SIGNER_MANY_INFLIGHT, sizeof(*p)));
	assert_non_null(sig = calloc(SIGNER_MANY_MAX, KG_SIG_LEN));
	s = open_ok("plain.key", NULL);
	p1 = signer_child();
	/* Stopped first, so that it dies with every request unanswered. */
	assert_int_equal(kill(p1, SIGSTOP), 0);
	wait_state(p1, 'T');
	for (i = 0; i < SIGNER_MANY_INFLIGHT; i++) {
		payloads_make(&p[i], SIGNER_MANY_MAX, 100, (uint8_t)(i + 50));
		assert_int_equal(signer_many_submit(s, p[i].ptr, p[i].len,
		    p[i].n, &t[i]), 0);
	}
	assert_int_equal(kill(p1, SIGKILL), 0);
	for (i = 0; i < SIGNER_MANY_INFLIGHT; i++) {
		assert_int_equal(signer_many_collect(s, t[i], sig, p[i].n), 0);
		payloads_check(&p[i], sig);
	}
	p2 = signer_child();
	assert_true(p2 != p1);
	/* Dead before the request is sent. */
	assert_int_equal(kill(p2, SIGKILL), 0);
	wait_state(p2, 'Z');
	assert_int_equal(signer_many_submit(s, p[0].ptr, p[0].len, p[0].n,
	    &t[0]), 0);
	assert_int_equal(signer_many_collect(s, t[0], sig, p[0].n), 0);
	payloads_check(&p[0], sig);
	/*
	 * Stopped before the request (so it cannot answer first): no answer
	 * within the timeout, killed, asked again.
	 */
	p3 = signer_child();
	assert_true(p3 != p2);
	assert_int_equal(kill(p3, SIGSTOP), 0);
	wait_state(p3, 'T');
	assert_int_equal(signer_many_submit(s, p[1].ptr, p[1].len, p[1].n,
	    &t[1]), 0);
	assert_int_equal(signer_many_collect(s, t[1], sig, p[1].n), 0);
	payloads_check(&p[1], sig);
	assert_true(signer_child() != p3);
	assert_false(signer_failed(s));
	signer_close(s);
	free(sig);
	free(p);
}

/*
 * Other exchanges between a submit and its collect: signer_sign and the
 * idle watch receive the replies and keep them; cancelled ones are dropped.
 */
static void
test_many_interleaved(void **state)
{
	struct kg_keypair	*kp = seed_keypair(SEED);
	struct payloads		*p;
	struct signer		*s;
	struct event_base	*base;
	uint8_t			 msg[32], one[KG_SIG_LEN];
	uint8_t			(*sig)[KG_SIG_LEN];
	uint64_t		 t[3];
	pid_t			 before;
	int			 stops = 0, i;

	(void)state;
	assert_non_null(p = calloc(3, sizeof(*p)));
	assert_non_null(sig = calloc(SIGNER_MANY_MAX, KG_SIG_LEN));
	assert_non_null(base = event_base_new());
	memset(msg, 0x33, sizeof(msg));
	s = open_ok("plain.key", NULL);
	before = signer_child();
	for (i = 0; i < 3; i++) {
		payloads_make(&p[i], SIGNER_MANY_MAX, 60, (uint8_t)(i + 3));
		assert_int_equal(signer_many_submit(s, p[i].ptr, p[i].len,
		    p[i].n, &t[i]), 0);
	}
	/* The middle one is given up; a reply signature goes in between. */
	signer_many_cancel(s, t[1]);
	assert_int_equal(signer_many_outstanding(s), 2);
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), one),
	    0);
	assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, msg, sizeof(msg),
	    one), KGE_OK);
	assert_int_equal(signer_many_collect(s, t[2], sig, p[2].n), 0);
	payloads_check(&p[2], sig);
	assert_int_equal(signer_many_collect(s, t[1], sig, p[1].n), -1);
	assert_int_equal(signer_many_collect(s, t[0], sig, p[0].n), 0);
	payloads_check(&p[0], sig);
	assert_int_equal(signer_many_outstanding(s), 0);

	/* The idle watch takes a reply as it comes, without a restart. */
	assert_int_equal(signer_watch(s, base, NULL, &stops), 0);
	assert_int_equal(signer_many_submit(s, p[0].ptr, p[0].len, p[0].n,
	    &t[0]), 0);
	/* Blocks until the reply is readable; the watch runs once. */
	assert_true(event_base_loop(base, EVLOOP_ONCE) != -1);
	assert_int_equal(signer_many_collect(s, t[0], sig, p[0].n), 0);
	payloads_check(&p[0], sig);
	assert_int_equal(signer_child(), before);
	assert_int_equal(stops, 0);
	assert_false(signer_failed(s));
	signer_close(s);
	event_base_free(base);
	keypair_free(kp);
	free(sig);
	free(p);
}

/*
 * The process with a priority socket: a signature waiting there is served
 * before a sign-many request waiting on the other socket, and on the
 * priority socket nothing but single signatures is taken.
 */
static void
test_proc_priority_first(void **state)
{
	struct kg_keypair	*kp = seed_keypair(SEED);
	struct payloads		*p;
	struct pollfd		 pfd;
	uint8_t			 hello[SIGNER_HELLO_MAX], msg[32], *many;
	uint8_t			 reply[SIGNER_MANY_REPLY_MAX];
	uint32_t		 v, status;
	size_t			 i, off, rlen;
	bool			 first = false;
	pid_t			 pid;
	int			 sv[2], pv[2], st, round;

	(void)state;
	assert_non_null(p = calloc(1, sizeof(*p)));
	assert_non_null(many = malloc(SIGNER_MSG_MAX));
	payloads_make(p, SIGNER_MANY_MAX, 100, 9);
	v = (uint32_t)p->n;
	memcpy(many, &v, 4);
	for (i = 0, off = 4; i < p->n; i++) {
		v = (uint32_t)p->len[i];
		memcpy(many + off, &v, 4);
		memcpy(many + off + 4, p->ptr[i], p->len[i]);
		off += 4 + p->len[i];
	}
	memset(msg, 0x44, sizeof(msg));
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pv), 0);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		close(sv[0]);
		close(pv[0]);
		signer_proc_main(sv[1], pv[1], keypath, NULL);
	}
	close(sv[1]);
	close(pv[1]);
	assert_true(recv(sv[0], hello, sizeof(hello), 0) >=
	    SIGNER_HELLO_HEADER);
	memcpy(&v, hello, 4);
	assert_int_equal(v, KGE_OK);

	/*
	 * Stopped, it finds both waiting when it goes on, and answers the
	 * signature before the 512 (by proc_serve's order, or at the latest
	 * after 4 of them): they are not all there yet when its reply is (7 ms
	 * or more; a round is tried again when the test itself was held up that
	 * long, 3 rounds at most).
	 */
	pfd.fd = sv[0];
	pfd.events = POLLIN;
	for (round = 0; round < 3 && !first; round++) {
		assert_int_equal(kill(pid, SIGSTOP), 0);
		raw_send(sv[0], SIGNER_OP_SIGN_MANY, many, off);
		raw_send(pv[0], KG_DOMAIN_REPLY, msg, sizeof(msg));
		assert_int_equal(kill(pid, SIGCONT), 0);
		assert_int_equal(recv(pv[0], reply, sizeof(reply), 0),
		    SIGNER_REPLY_LEN);
		first = poll(&pfd, 1, 0) == 0;
		memcpy(&status, reply, 4);
		assert_int_equal(status, SIGNER_STATUS_OK);
		assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, msg,
		    sizeof(msg), reply + 4), KGE_OK);
		assert_int_equal(recv(sv[0], reply, sizeof(reply), 0),
		    (ssize_t)(SIGNER_MANY_REPLY_HEADER + p->n * KG_SIG_LEN));
		memcpy(&status, reply, 4);
		assert_int_equal(status, SIGNER_STATUS_OK);
		payloads_check(p, (uint8_t (*)[KG_SIG_LEN])(reply +
		    SIGNER_MANY_REPLY_HEADER));
	}
	assert_true(first);

	/* Only single signatures on the priority socket; it lives on. */
	assert_int_equal(raw_request(pv[0], SIGNER_OP_SIGN_MANY, many, off,
	    &rlen), SIGNER_STATUS_REFUSED);
	assert_int_equal(rlen, SIGNER_REPLY_LEN);
	assert_int_equal(raw_request(pv[0], SIGNER_OP_ROTATE_ABORT, msg, 32,
	    &rlen), SIGNER_STATUS_REFUSED);
	assert_int_equal(raw_request(pv[0], KG_DOMAIN_ROTATION, msg, 32,
	    &rlen), SIGNER_STATUS_REFUSED);
	assert_int_equal(raw_request(pv[0], KG_DOMAIN_LICENSE, msg, 32,
	    &rlen), SIGNER_STATUS_OK);
	assert_int_equal(raw_request(sv[0], KG_DOMAIN_LICENSE, msg, 32,
	    &rlen), SIGNER_STATUS_OK);
	close(sv[0]);
	close(pv[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	keypair_free(kp);
	free(many);
	free(p);
}

/*
 * signer_sign while a bulk issue's sign-many requests are queued: its
 * signature is made between theirs, so it returns while the first of them
 * is still being signed (signer_many_ready says so without waiting), and
 * every request still gets its own signatures. A request of 512 is 7 ms
 * of signing or more, and the signature is asked for 2 ms into it; a round
 * is tried again when the test itself was held up that long (3 rounds at
 * most).
 */
static void
test_many_sign_overtakes(void **state)
{
	struct kg_keypair	*kp = seed_keypair(SEED);
	struct payloads		*p;
	struct signer		*s;
	uint8_t			 msg[32], one[KG_SIG_LEN];
	uint8_t			(*sig)[KG_SIG_LEN];
	const struct timespec	 busy = { 0, 2 * 1000 * 1000 };
	uint64_t		 t[SIGNER_MANY_INFLIGHT];
	bool			 overtook = false;
	int			 round, i;

	(void)state;
	assert_non_null(p = calloc(SIGNER_MANY_INFLIGHT, sizeof(*p)));
	assert_non_null(sig = calloc(SIGNER_MANY_MAX, KG_SIG_LEN));
	memset(msg, 0x55, sizeof(msg));
	s = open_ok("plain.key", NULL);
	for (i = 0; i < SIGNER_MANY_INFLIGHT; i++)
		payloads_make(&p[i], SIGNER_MANY_MAX, 100, (uint8_t)(i + 20));
	for (round = 0; round < 3 && !overtook; round++) {
		for (i = 0; i < SIGNER_MANY_INFLIGHT; i++)
			assert_int_equal(signer_many_submit(s, p[i].ptr,
			    p[i].len, p[i].n, &t[i]), 0);
		/* Well into the first request's signatures. */
		nanosleep(&busy, NULL);
		assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg,
		    sizeof(msg), one), 0);
		overtook = !signer_many_ready(s, t[0]);
		assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, msg,
		    sizeof(msg), one), KGE_OK);
		for (i = 0; i < SIGNER_MANY_INFLIGHT; i++) {
			assert_int_equal(signer_many_collect(s, t[i], sig,
			    p[i].n), 0);
			payloads_check(&p[i], sig);
			assert_true(signer_many_ready(s, t[i]));
		}
	}
	assert_true(overtook);
	assert_int_equal(signer_many_outstanding(s), 0);
	assert_false(signer_failed(s));
	signer_close(s);
	keypair_free(kp);
	free(sig);
	free(p);
}

/*
 * signer_many_ready never waits, yet a process that stops answering is
 * still found out: looked at for longer than the signer's timeout, the
 * request is sent to a new process, which answers it.
 */
static void
test_many_ready_hung(void **state)
{
	struct payloads	*p;
	struct signer	*s;
	uint8_t		(*sig)[KG_SIG_LEN];
	const struct timespec	tick = { 0, 20 * 1000 * 1000 };
	uint64_t	 t;
	pid_t		 p1;
	int		 i;

	(void)state;
	assert_non_null(p = calloc(1, sizeof(*p)));
	assert_non_null(sig = calloc(SIGNER_MANY_MAX, KG_SIG_LEN));
	s = open_ok("plain.key", NULL);
	p1 = signer_child();
	assert_int_equal(kill(p1, SIGSTOP), 0);
	wait_state(p1, 'T');
	payloads_make(p, 64, 100, 77);
	assert_int_equal(signer_many_submit(s, p->ptr, p->len, p->n, &t), 0);
	/* Twice the timeout at most, looking every 20 ms. */
	for (i = 0; i < 2 * SIGNER_SIGN_TIMEOUT_S * 50 &&
	    !signer_many_ready(s, t); i++)
		nanosleep(&tick, NULL);
	assert_true(signer_many_ready(s, t));
	assert_true(signer_child() != p1);
	assert_int_equal(signer_many_collect(s, t, sig, p->n), 0);
	payloads_check(p, sig);
	assert_false(signer_failed(s));
	signer_close(s);
	free(sig);
	free(p);
}

/*
 * A signature asked for while bulk replies pile up unread: the exchange
 * takes them as they come, so a process blocked sending one is never left
 * unable to answer (SIGNER_MANY_SLOTS requests of 512, more than the
 * process's socket buffer holds), and each request keeps its signatures.
 */
static void
test_many_sign_takes_replies(void **state)
{
	struct kg_keypair	*kp = seed_keypair(SEED);
	struct payloads		*p;
	struct signer		*s;
	uint8_t			 msg[32], one[KG_SIG_LEN];
	uint8_t			(*sig)[KG_SIG_LEN];
	const struct timespec	 wait = { 0, 200 * 1000 * 1000 };
	uint64_t		 t[SIGNER_MANY_SLOTS];
	pid_t			 before;
	size_t			 i;

	(void)state;
	assert_non_null(p = calloc(SIGNER_MANY_SLOTS, sizeof(*p)));
	assert_non_null(sig = calloc(SIGNER_MANY_MAX, KG_SIG_LEN));
	memset(msg, 0x66, sizeof(msg));
	s = open_ok("plain.key", NULL);
	before = signer_child();
	for (i = 0; i < SIGNER_MANY_SLOTS; i++) {
		payloads_make(&p[i], SIGNER_MANY_MAX, 60, (uint8_t)(i + 90));
		assert_int_equal(signer_many_submit(s, p[i].ptr, p[i].len,
		    p[i].n, &t[i]), 0);
	}
	/* Let the process sign most of them meanwhile, replies unread. */
	nanosleep(&wait, NULL);
	assert_int_equal(signer_sign(s, KG_DOMAIN_REPLY, msg, sizeof(msg), one),
	    0);
	assert_int_equal(keys_verify(kp->pk, KG_DOMAIN_REPLY, msg, sizeof(msg),
	    one), KGE_OK);
	for (i = 0; i < SIGNER_MANY_SLOTS; i++) {
		assert_int_equal(signer_many_collect(s, t[i], sig, p[i].n), 0);
		payloads_check(&p[i], sig);
	}
	assert_int_equal(signer_child(), before);
	assert_false(signer_failed(s));
	signer_close(s);
	keypair_free(kp);
	free(sig);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_matches_key),
		cmocka_unit_test(test_many_refused),
		cmocka_unit_test(test_proc_refuses),
		cmocka_unit_test(test_many_restart),
		cmocka_unit_test(test_many_interleaved),
		cmocka_unit_test(test_proc_priority_first),
		cmocka_unit_test(test_many_sign_overtakes),
		cmocka_unit_test(test_many_ready_hung),
		cmocka_unit_test(test_many_sign_takes_replies),
	};

	return cmocka_run_group_tests(tests, setup, signer_fixture_teardown);
}
