/*
 * keygated's metrics: one set of counters for the whole process, bumped by
 * the request path (dispatch.c for requests, replies, check verdicts and
 * check latency; renew.c for renewals the store made; check.c for
 * activation-basis licenses fixed by their first check), and an optional
 * HTTP listener (libevent's evhttp on the daemon's event base) that serves
 * them.
 *
 *   GET /metrics   the counters in the Prometheus text exposition format
 *                  (version 0.0.4); the families are listed in
 *                  metrics_render and in keygated(8)
 *   GET /healthz   200 "ok" when the store answers a read and the signer
 *                  has not given up; 503 with the reason otherwise
 *   anything else  404 (GET and HEAD only; other methods are refused)
 *
 * The listener is off by default (metrics_listen empty). It must be bound
 * to a loopback address unless metrics_allow_remote = yes: the page tells
 * anyone who can read it how busy the server is and which errors it
 * answers, and evhttp has no connection cap of its own, so remote scrapers
 * belong behind a firewall or a reverse proxy.
 *
 * Threads: every thread counts into a block of its own, and a scrape sums
 * the blocks (see the counters below); the sum is not a snapshot of one
 * instant, which Prometheus counters do not need.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "conf.h"
#include "daemon.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "signer.h"
#include "store.h"
#include "tcpaddr.h"

#define METRICS_BACKLOG		16
#define METRICS_TIMEOUT		10	/* seconds for a request to arrive */
#define METRICS_HEADERS_MAX	8192	/* bytes of a request's headers */
#define METRICS_BODY_MAX	1024	/* bytes of a request's body */
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The verdicts of keygate_checks_total, in enum kg_verdict_kind order. */
#define METRICS_VERDICTS	4

/* Reason codes by enum kg_reason, and one more slot for any other text. */
#define METRICS_REASONS		(KG_REASON__COUNT + 1)
#define METRICS_REASON_OTHER	KG_REASON__COUNT

/* The activate outcomes that are not refusal reasons. */
enum redemption_kind {
	REDEEM_RENEWED,
	REDEEM_REPEATED,
	REDEEM_ERROR,
	REDEEM__COUNT
};

static const char *const redeem_names[REDEEM__COUNT] = {
	"renewed", "repeated", "error",
};

static const char *const request_names[METRICS_REQ__COUNT] = {
	"check", "status", "activate", "rotations", "unreadable",
};

/* Upper bounds of the check latency buckets, in ns, and as the le label. */
static const uint64_t bucket_ns[] = {
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
};
static const char *const bucket_le[NELEM(bucket_ns)] = {
	"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
	"0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
};

/* Upper bounds of the reply batch size buckets (replies per signature). */
static const char *const batch_le[] = {
	"1", "2", "4", "8", "16", "32", "64", "128",
};

/*
 * The counters. Each thread counts into a block of its own (so that worker
 * threads on different cores do not fight over cache lines): plain loads
 * and stores by its owner, relaxed atomics so that a scrape on another
 * thread may read them; a scrape sums every block (metrics_sum). The
 * blocks stay on the list until the process ends.
 */
struct metrics_counts {
	_Atomic uint64_t	requests[METRICS_REQ__COUNT];
	_Atomic uint64_t	checks[METRICS_VERDICTS];
	_Atomic uint64_t	replies[2][METRICS_REASONS];	/* [error?][reason] */
	_Atomic uint64_t	redeem[REDEEM__COUNT];
	_Atomic uint64_t	redeem_refused[METRICS_REASONS];
	_Atomic uint64_t	check_bucket[NELEM(bucket_ns) + 1];	/* last: above 1 s */
	_Atomic uint64_t	check_count;
	_Atomic uint64_t	check_sum_ns;
	_Atomic uint64_t	first_activations;
	_Atomic uint64_t	batch_bucket[NELEM(batch_le) + 1];	/* last: above 128 */
	_Atomic uint64_t	batch_count;	/* reply signatures */
	_Atomic uint64_t	batch_sum;	/* replies they signed */
	_Atomic uint64_t	group_bucket[NELEM(batch_le) + 1];	/* last: above 128 */
	_Atomic uint64_t	group_count;	/* redemption commits */
	_Atomic uint64_t	group_sum;	/* redemptions they committed */
};

/* A block on the list: the counters first, so a block reads as an array. */
struct metrics_block {
	struct metrics_counts	 c;
	struct metrics_block	*next;
};

#define METRICS_NCOUNTERS	(sizeof(struct metrics_counts) / sizeof(uint64_t))

static struct metrics_block		*blocks;	/* every thread's */
static pthread_mutex_t			 blocks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_block		 spare;	/* for a thread without its own */
static _Thread_local struct metrics_counts	*mine;
static _Atomic int64_t			 start_time;	/* Unix seconds, set on first use */

/* This thread's counters, its block made on first use. */
static struct metrics_counts *
metrics_mine(void)
{
	struct metrics_block	*b;

	if (mine != NULL)
		return mine;
	pthread_mutex_lock(&blocks_lock);
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		/* Shared, and so racy between threads: counts may be lost. */
		mine = &spare.c;
	} else {
		b->next = blocks;
		blocks = b;
		mine = &b->c;
	}
	pthread_mutex_unlock(&blocks_lock);
	return mine;
}

/* Add n to a counter of this thread's block (its owner alone writes it). */
#define BUMP(field, n) do {						\
	_Atomic uint64_t *p_ = &(field);				\
	atomic_store_explicit(p_, atomic_load_explicit(p_,		\
	    memory_order_relaxed) + (n), memory_order_relaxed);		\
} while (0)

/* Every thread's counters summed into *sum. */
static void
metrics_sum(struct metrics_counts *sum)
{
	struct metrics_block	*b;
	_Atomic uint64_t	*to = (_Atomic uint64_t *)sum;
	const _Atomic uint64_t	*from;
	size_t			 i;

	memset(sum, 0, sizeof(*sum));
	pthread_mutex_lock(&blocks_lock);
	for (b = blocks; b != NULL; b = b->next) {
		from = (const _Atomic uint64_t *)&b->c;
		for (i = 0; i < METRICS_NCOUNTERS; i++)
			to[i] += atomic_load_explicit(&from[i],
			    memory_order_relaxed);
	}
	from = (const _Atomic uint64_t *)&spare.c;
	for (i = 0; i < METRICS_NCOUNTERS; i++)
		to[i] += atomic_load_explicit(&from[i], memory_order_relaxed);
	pthread_mutex_unlock(&blocks_lock);
}

/* The listener; at most one per process. */
static struct {
	struct daemon		*d;
	struct evhttp		*http;
	char			 data_file[PATH_MAX + 16];
} srv;

static void
metrics_start_time_init(void)
{
	int64_t	zero = 0;

	if (atomic_load_explicit(&start_time, memory_order_relaxed) == 0)
		atomic_compare_exchange_strong(&start_time, &zero,
		    (int64_t)time(NULL));
}

/* The slot of a reason code; METRICS_REASON_OTHER for anything else. */
static size_t
metrics_reason_slot(const char *reason)
{
	enum kg_reason	r;

	if (reason != NULL && reason_parse(reason, &r) == 0 &&
	    (size_t)r < KG_REASON__COUNT)
		return (size_t)r;
	return METRICS_REASON_OTHER;
}

static const char *
metrics_reason_label(size_t slot)
{
	return slot == METRICS_REASON_OTHER ? "other" :
	    reason_name((enum kg_reason)slot);
}

/* ---- the hooks ---- */

/* One request of type t arrived. */
void
metrics_count_request(enum metrics_request t)
{
	metrics_start_time_init();
	if ((size_t)t < METRICS_REQ__COUNT)
		BUMP(metrics_mine()->requests[t], 1);
}

/* One reply was signed. */
void
metrics_count_reply(bool error, const char *reason)
{
	BUMP(metrics_mine()->replies[error ? 1 : 0][metrics_reason_slot(reason)], 1);
}

/* A check request was handled in nsec nanoseconds. */
void
metrics_count_check(const char *verdict, uint64_t nsec)
{
	struct metrics_counts	*c = metrics_mine();
	size_t			 i;

	if (verdict != NULL) {
		for (i = 0; i < METRICS_VERDICTS; i++)
			if (strcmp(verdict, policy_verdict_name(
			    (enum kg_verdict_kind)i)) == 0) {
				BUMP(c->checks[i], 1);
				break;
			}
	}
	for (i = 0; i < NELEM(bucket_ns) && nsec > bucket_ns[i]; i++)
		;
	BUMP(c->check_bucket[i], 1);
	BUMP(c->check_count, 1);
	BUMP(c->check_sum_ns, nsec);
}

/* The outcome of one activate request. */
void
metrics_count_redemption(const char *result)
{
	size_t	i;

	for (i = 0; i < REDEEM__COUNT; i++)
		if (strcmp(result, redeem_names[i]) == 0) {
			BUMP(metrics_mine()->redeem[i], 1);
			return;
		}
	BUMP(metrics_mine()->redeem_refused[metrics_reason_slot(result)], 1);
}

/* The bucket of a size n among batch_le's bounds. */
static size_t
metrics_size_bucket(size_t n)
{
	size_t	i, bound;

	for (i = 0, bound = 1; i < NELEM(batch_le) && n > bound; i++)
		bound *= 2;
	return i;
}

/* One signature signed n replies (batch.c). */
void
metrics_count_batch(size_t n)
{
	struct metrics_counts	*c = metrics_mine();

	BUMP(c->batch_bucket[metrics_size_bucket(n)], 1);
	BUMP(c->batch_count, 1);
	BUMP(c->batch_sum, n);
}

/* One write transaction redeemed n acts (renew.c's group commit). */
void
metrics_count_group(size_t n)
{
	struct metrics_counts	*c = metrics_mine();

	BUMP(c->group_bucket[metrics_size_bucket(n)], 1);
	BUMP(c->group_count, 1);
	BUMP(c->group_sum, n);
}

/* An activation-basis license had its support fixed by its first check. */
void
metrics_count_first_activation(void)
{
	BUMP(metrics_mine()->first_activations, 1);
}

/* ---- settings ---- */

/*
 * Resolve "HOST:PORT" or "[HOST]:PORT" (numeric host, "localhost", or "*"
 * and "" for every IPv4 address) into *res. 0, or -1 with why in err.
 */
static int
metrics_addr_resolve(const char *s, struct addrinfo **res, char *err,
    size_t errlen)
{
	struct addrinfo	 hints;
	char		 host[INET6_ADDRSTRLEN + 1], port[8];
	int		 rc;

	if (tcpaddr_split(s, host, sizeof(host), port, sizeof(port)) == -1) {
		snprintf(err, errlen, "expected HOST:PORT or [IPv6]:PORT with "
		    "a numeric address, e.g. 127.0.0.1:9447");
		return -1;
	}
	if (s[0] != '[' && strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, res)) != 0) {
		snprintf(err, errlen, "\"%s\" is not a numeric address (%s)",
		    host, gai_strerror(rc));
		return -1;
	}
	return 0;
}

static bool
metrics_addr_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6	*s6;
	const uint8_t			*b;

	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	s6 = (const struct sockaddr_in6 *)(const void *)sa;
	if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
		return true;
	b = s6->sin6_addr.s6_addr;
	return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && b[12] == 127;
}

/* Check the metrics settings: see metrics.h. */
int
metrics_conf_check(const struct config *c, const char *path, char *err,
    size_t errlen)
{
	struct addrinfo	*res = NULL;
	char		 why[160];
	bool		 loopback;

	if (c->metrics_listen[0] == '\0')
		return 0;
	if (metrics_addr_resolve(c->metrics_listen, &res, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: metrics_listen = %s: %s", path,
		    c->metrics_listen, why);
		return -1;
	}
	loopback = metrics_addr_loopback(res->ai_addr);
	freeaddrinfo(res);
	if (!loopback && !c->metrics_allow_remote) {
		snprintf(err, errlen, "%s: metrics_listen = %s is not a "
		    "loopback address: use 127.0.0.1 or [::1], or set "
		    "metrics_allow_remote = yes to serve metrics to other "
		    "machines", path, c->metrics_listen);
		return -1;
	}
	return 0;
}

/* ---- /metrics ---- */

static void
metrics_family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A histogram of sizes with batch_le's buckets. */
static void
metrics_histogram_sizes(struct evbuffer *b, const char *name, const char *help,
    const _Atomic uint64_t *bucket, uint64_t count, uint64_t sum)
{
	uint64_t	cum = 0;
	size_t		i;

	metrics_family(b, name, "histogram", help);
	for (i = 0; i < NELEM(batch_le); i++) {
		cum += bucket[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
		    batch_le[i], cum);
	}
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %"
	    PRIu64 "\n%s_count %" PRIu64 "\n", name, count, name, sum, name,
	    count);
}

/* Nanoseconds as seconds with nine decimals, without floating point. */
static void
metrics_add_seconds(struct evbuffer *b, uint64_t ns)
{
	evbuffer_add_printf(b, "%" PRIu64 ".%09" PRIu64, ns / 1000000000,
	    ns % 1000000000);
}

static void
metrics_render(struct evbuffer *b)
{
	struct metrics_counts	 m;
	struct stat		 sb;
	uint64_t		 cum;
	size_t			 i, e;
	int			 have_size;

	metrics_sum(&m);
	metrics_family(b, "keygate_build_info", "gauge",
	    "keygated's version (always 1).");
	evbuffer_add_printf(b, "keygate_build_info{version=\"%s\"} 1\n",
	    KG_VERSION_TEXT);
	metrics_family(b, "process_start_time_seconds", "gauge",
	    "When keygated started, in Unix seconds.");
	evbuffer_add_printf(b, "process_start_time_seconds %" PRId64 "\n",
	    atomic_load(&start_time));

	metrics_family(b, "keygate_requests_total", "counter",
	    "Requests on the public port by type (unreadable: a frame that "
	    "named no request).");
	for (i = 0; i < METRICS_REQ__COUNT; i++)
		evbuffer_add_printf(b, "keygate_requests_total{type=\"%s\"} %"
		    PRIu64 "\n", request_names[i], m.requests[i]);

	metrics_family(b, "keygate_checks_total", "counter",
	    "Update checks answered with a verdict, by verdict.");
	for (i = 0; i < METRICS_VERDICTS; i++)
		evbuffer_add_printf(b, "keygate_checks_total{verdict=\"%s\"} %"
		    PRIu64 "\n", policy_verdict_name((enum kg_verdict_kind)i),
		    m.checks[i]);

	metrics_family(b, "keygate_replies_total", "counter",
	    "Signed replies by reason code; kind=\"error\" are Error replies "
	    "(protocol and validation errors), kind=\"verdict\" the rest. "
	    "Only reasons seen so far are listed.");
	for (e = 0; e < 2; e++)
		for (i = 0; i < METRICS_REASONS; i++)
			if (m.replies[e][i] != 0)
				evbuffer_add_printf(b, "keygate_replies_total{"
				    "kind=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
				    e ? "error" : "verdict",
				    metrics_reason_label(i), m.replies[e][i]);

	metrics_family(b, "keygate_redemptions_total", "counter",
	    "Act redemptions (activate requests) by result: renewed, "
	    "repeated (the same act again by the key it renewed), error, or "
	    "the refusal's reason code. Refusal reasons are listed once seen.");
	for (i = 0; i < REDEEM__COUNT; i++)
		evbuffer_add_printf(b, "keygate_redemptions_total{result=\"%s\"} "
		    "%" PRIu64 "\n", redeem_names[i], m.redeem[i]);
	for (i = 0; i < METRICS_REASONS; i++)
		if (m.redeem_refused[i] != 0)
			evbuffer_add_printf(b, "keygate_redemptions_total{"
			    "result=\"%s\"} %" PRIu64 "\n",
			    metrics_reason_label(i), m.redeem_refused[i]);

	metrics_family(b, "keygate_license_activations_total", "counter",
	    "Activation-basis licenses whose support was fixed by their "
	    "first check.");
	evbuffer_add_printf(b, "keygate_license_activations_total %" PRIu64
	    "\n", m.first_activations);

	metrics_family(b, "keygate_check_duration_seconds", "histogram",
	    "Time to handle one check request (store reads and policy; "
	    "signing the reply excluded).");
	for (i = 0, cum = 0; i < NELEM(bucket_ns); i++) {
		cum += m.check_bucket[i];
		evbuffer_add_printf(b, "keygate_check_duration_seconds_bucket{"
		    "le=\"%s\"} %" PRIu64 "\n", bucket_le[i], cum);
	}
	evbuffer_add_printf(b, "keygate_check_duration_seconds_bucket{"
	    "le=\"+Inf\"} %" PRIu64 "\n", m.check_count);
	evbuffer_add_printf(b, "keygate_check_duration_seconds_sum ");
	metrics_add_seconds(b, m.check_sum_ns);
	evbuffer_add_printf(b, "\nkeygate_check_duration_seconds_count %"
	    PRIu64 "\n", m.check_count);

	metrics_histogram_sizes(b, "keygate_reply_batch_size",
	    "Replies signed by one Ed25519 signature (1: signed directly; "
	    "more: a Merkle batch of one event-loop turn).", m.batch_bucket,
	    m.batch_count, m.batch_sum);
	metrics_histogram_sizes(b, "keygate_redemption_group_size",
	    "Act redemptions made durable by one write transaction (the "
	    "activate requests of one event-loop turn).", m.group_bucket,
	    m.group_count, m.group_sum);

	metrics_family(b, "keygate_open_connections", "gauge",
	    "Open connections on the public port.");
	evbuffer_add_printf(b, "keygate_open_connections %zu\n",
	    listener_connections());

	have_size = stat(srv.data_file, &sb) == 0;
	metrics_family(b, "keygate_store_size_bytes", "gauge",
	    "Size of the store's data file (data.mdb).");
	if (have_size)
		evbuffer_add_printf(b, "keygate_store_size_bytes %jd\n",
		    (intmax_t)sb.st_size);
}

/* ---- the HTTP listener ---- */

static void
metrics_reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add(b, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

/* 200 "ok" when the store answers a read and the signer works. */
static void
metrics_healthz(struct evhttp_request *req)
{
	struct store	*st = srv.d->store;
	uint32_t	 version;

	if (st == NULL || st->ops->schema_version(st, &version) != STORE_OK) {
		metrics_reply_text(req, 503, "Service Unavailable",
		    "unhealthy: the store does not answer\n");
		return;
	}
	if (srv.d->signer == NULL || signer_failed(srv.d->signer)) {
		metrics_reply_text(req, 503, "Service Unavailable",
		    "unhealthy: the signer process has failed\n");
		return;
	}
	metrics_reply_text(req, HTTP_OK, "OK", "ok\n");
}

static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer		*b;

	(void)arg;
	if (path != NULL && strcmp(path, "/metrics") == 0) {
		if ((b = evbuffer_new()) == NULL) {
			evhttp_send_error(req, HTTP_INTERNAL, NULL);
			return;
		}
		metrics_render(b);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", METRICS_CONTENT_TYPE);
		evhttp_send_reply(req, HTTP_OK, "OK", b);
		evbuffer_free(b);
		return;
	}
	if (path != NULL && strcmp(path, "/healthz") == 0) {
		metrics_healthz(req);
		return;
	}
	metrics_reply_text(req, HTTP_NOTFOUND, "Not Found",
	    "not found: keygated serves /metrics and /healthz\n");
}

/* Start the HTTP listener: see metrics.h. */
int
metrics_start(struct daemon *d, char *err, size_t errlen)
{
	struct evconnlistener	*lev = NULL;
	struct addrinfo		*res = NULL;
	struct sockaddr_storage	 ss;
	unsigned		 bound = 0;

	metrics_start_time_init();
	if (d->conf.metrics_listen[0] == '\0')
		return 0;
	if (srv.http != NULL) {
		snprintf(err, errlen, "metrics: the listener already runs");
		return -1;
	}
	if (metrics_conf_check(&d->conf, "metrics", err, errlen) == -1 ||
	    metrics_addr_resolve(d->conf.metrics_listen, &res, err,
	    errlen) == -1)
		return -1;
	srv.d = d;
	snprintf(srv.data_file, sizeof(srv.data_file), "%s/data.mdb",
	    d->datadir);
	if ((srv.http = evhttp_new(d->base)) == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		goto fail;
	}
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(srv.http, METRICS_TIMEOUT);
	evhttp_set_max_headers_size(srv.http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(srv.http, METRICS_BODY_MAX);
	evhttp_set_gencb(srv.http, metrics_http_cb, NULL);
	lev = evconnlistener_new_bind(d->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    METRICS_BACKLOG, res->ai_addr, (int)res->ai_addrlen);
	if (lev == NULL) {
		snprintf(err, errlen, "metrics: cannot listen on %s: %s",
		    d->conf.metrics_listen, strerror(errno));
		goto fail;
	}
	if (evhttp_bind_listener(srv.http, lev) == NULL) {
		evconnlistener_free(lev);
		snprintf(err, errlen, "metrics: cannot serve HTTP on %s",
		    d->conf.metrics_listen);
		goto fail;
	}
	bound = tcpaddr_bound_port(evconnlistener_get_fd(lev), &ss);
	if (d->conf.metrics_port_file[0] != '\0' &&
	    tcpaddr_port_file_write(d->conf.metrics_port_file, bound) == -1) {
		snprintf(err, errlen, "metrics: cannot write the port file %s: "
		    "%s", d->conf.metrics_port_file, strerror(errno));
		goto fail;
	}
	freeaddrinfo(res);
	log_info("metrics on http://%s/metrics (port %u)%s",
	    d->conf.metrics_listen, bound,
	    metrics_addr_loopback((struct sockaddr *)&ss) ? "" :
	    "; metrics_allow_remote: other machines may read it");
	return 0;
fail:
	freeaddrinfo(res);
	metrics_stop();
	return -1;
}

/* Stop the listener and close its connections. */
void
metrics_stop(void)
{
	if (srv.http != NULL)
		evhttp_free(srv.http);
	srv.http = NULL;
	srv.d = NULL;
}
