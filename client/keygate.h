/*
 * libkeygate: the product side of keygate.
 *
 * A product links this library to ask a keygate server "may this key
 * install updates?" and to renew support with an act number, and to verify
 * a license key offline against the vendor's public key. Every reply from
 * the server is checked before anything in it is believed: it must be
 * signed (Ed25519, domain "keygate-reply-v1") by a key of the client's trust
 * set, be no older than the newest server time the client has accepted
 * (the replay high-water mark), carry the nonce the client sent, and carry
 * the BLAKE2b-256 hash of the exact request bytes the client sent.
 *
 * With a state file (kg_client_set_state_file) the high-water mark and the
 * last verified update-check verdict of each license survive restarts, and
 * when no server answers, kg_check answers from that verdict, marked
 * offline (kg_result_offline, kg_result_age), never allowing a release the
 * verdict did not allow.
 *
 * Conventions:
 * - Functions return KG_OK (0) or one of the negative KG_ERR_* codes below;
 *   kg_strerror() names each. The library never exits, never prints and
 *   never raises SIGPIPE.
 * - Handles are opaque. A kg_client is used by one thread at a time;
 *   different handles are independent. kg_result handles are read-only and
 *   may be read from any thread.
 * - Strings passed in are copied; the caller may free them after the call.
 *   Strings returned by kg_result_* accessors belong to the result and stay
 *   valid until kg_result_free() of that result. They are NUL-terminated
 *   UTF-8. An accessor returns NULL when the reply carries no such field.
 * - Dates are returned as text "YYYY-MM-DD" (UTC calendar days; support is
 *   valid through the whole expiry day). Money is returned as text in
 *   currency units with two decimals ("1998.00") and as integer minor units.
 * - Linking: pkg-config --cflags --libs keygate. libkeygate.so.1 exports the
 *   kg_* functions below and nothing else.
 */
#ifndef KEYGATE_H
#define KEYGATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/*
 * Version of this header's API; bumped when functions are added.
 * 2: state file, offline answers, deadline, rollback tolerance.
 */
#define KG_API_VERSION	2

/* Default TCP port of keygated's public listener. */
#define KG_DEFAULT_PORT	7447

/* Default timeouts in milliseconds (kg_client_set_timeouts). */
#define KG_DEFAULT_CONNECT_MS	3000
#define KG_DEFAULT_IO_MS	10000

/* Default rollback tolerance in seconds (kg_client_set_rollback_tolerance). */
#define KG_DEFAULT_ROLLBACK_TOLERANCE	86400

/* Return codes. The values are stable: products may store or log them. */
#define KG_OK			0
#define KG_ERR_INVAL		(-1)	/* a bad argument: NULL, empty, too long, not a number */
#define KG_ERR_NOMEM		(-2)	/* out of memory */
#define KG_ERR_CONNECT		(-3)	/* no server could be reached (every server was tried) */
#define KG_ERR_TIMEOUT		(-4)	/* no answer within the I/O timeout or the total deadline */
#define KG_ERR_CLOSED		(-5)	/* the server closed the connection without answering */
#define KG_ERR_PROTOCOL		(-6)	/* malformed reply: bad frame, oversize, bad protobuf, other protocol */
#define KG_ERR_UNTRUSTED	(-7)	/* reply signed by a key not in the trust set, or bad signature */
#define KG_ERR_NONCE		(-8)	/* reply nonce is not ours: a replayed reply */
#define KG_ERR_REQUEST_HASH	(-9)	/* reply answers another request */
#define KG_ERR_REPLAY		(-10)	/* reply's server time is older than the high-water mark */
#define KG_ERR_SERVER		(-11)	/* the server answered with an Error reply: see kg_result_error_reason */
#define KG_ERR_KEY		(-12)	/* offline: the license key does not verify (see kg_result_detail) */
#define KG_ERR_TRUST		(-13)	/* no trusted public key, or public key text that is not "KGP1." lines */
#define KG_ERR_STATE		(-14)	/* the state file cannot be read or written, or is not one */

typedef struct kg_client kg_client;
typedef struct kg_result kg_result;

/*
 * A short English sentence for a return code ("no keygate server could be
 * reached"). Never NULL; static storage.
 */
const char	*kg_strerror(int code);

/* The library's version text, e.g. "0.1.0". Static storage. */
const char	*kg_library_version(void);

/* ---- clients ---------------------------------------------------------- */

/*
 * A new client with no server, an empty trust set and the default
 * timeouts. *out is the caller's: free it with kg_client_free().
 * KG_OK, KG_ERR_INVAL (out is NULL) or KG_ERR_NOMEM.
 */
int	kg_client_new(kg_client **out);

/* Close the client's connection and free it. NULL is fine. */
void	kg_client_free(kg_client *c);

/*
 * Add a server: "HOST:PORT", "[V6ADDR]:PORT", or "HOST" alone (port
 * KG_DEFAULT_PORT). HOST may be a name or an address. Servers are tried in
 * the order added: when one cannot be reached (KG_ERR_CONNECT,
 * KG_ERR_TIMEOUT, KG_ERR_CLOSED) the next is tried; any other failure
 * (a forged or replayed reply) is returned at once, without failing over.
 * KG_OK, KG_ERR_INVAL (malformed text, port not 1..65535) or KG_ERR_NOMEM.
 */
int	kg_client_add_server(kg_client *c, const char *host_port);

/*
 * Add to the trust set every "KGP1.<base64url>" line of text (as printed by
 * `keygated pubkey`; blank lines and lines starting with '#' are skipped).
 * All or nothing: on failure the trust set is unchanged.
 * KG_OK, KG_ERR_INVAL (NULL), KG_ERR_TRUST (a line is not a public key, or
 * the text has none) or KG_ERR_NOMEM.
 */
int	kg_client_trust_text(kg_client *c, const char *kgp1_lines);

/* kg_client_trust_text() of a file's contents; KG_ERR_TRUST also when it cannot be read. */
int	kg_client_trust_file(kg_client *c, const char *path);

/*
 * Timeouts in milliseconds: connect_ms for each connection attempt (each
 * address of each server), io_ms for one whole request on one server
 * (sending it and reading the whole reply). 1..3600000 each; KG_OK or
 * KG_ERR_INVAL. Name lookup (getaddrinfo) is not bounded by them: give
 * addresses where that matters.
 */
int	kg_client_set_timeouts(kg_client *c, int connect_ms, int io_ms);

/*
 * Total deadline in milliseconds for one request across every server tried
 * (connects and exchanges together; each connect and exchange still has
 * its own timeout, cut short by the deadline). 0 = no total deadline (the
 * default), else 1..3600000. When it passes, the request fails with
 * KG_ERR_TIMEOUT (and kg_check may answer offline). KG_OK or KG_ERR_INVAL.
 */
int	kg_client_set_deadline(kg_client *c, int total_ms);

/*
 * Replay high-water mark: the newest server time (Unix seconds) this client
 * has accepted. A reply whose server time is older is refused with
 * KG_ERR_REPLAY (SPEC section 4), before its nonce is looked at. A state
 * file keeps the mark between runs; without one a product may save
 * kg_client_time_floor() itself and restore it with
 * kg_client_set_time_floor() (which never lowers the mark). 0 = none.
 */
void	kg_client_set_time_floor(kg_client *c, int64_t server_time);
int64_t	kg_client_time_floor(const kg_client *c);

/*
 * Keep state in the file at path (NULL: stop writing one; what was loaded
 * stays in memory). The file is loaded now and merged into the client: its
 * high-water mark raises the client's, its verdicts become the client's
 * cached verdicts. It is written after every reply that passed the checks
 * (a temporary file, fsync, rename; mode 0600; re-read and merged first, so
 * processes sharing it never lower the mark) and holds:
 *   - the high-water mark;
 *   - per (license serial, product), the last verified update-check verdict:
 *     the exact request bytes sent and the exact signed reply bytes, so the
 *     verdict is verified again (signature by a trusted key, nonce, request
 *     hash, key) each time it is used, never trusted because it is there.
 * At most 32 verdicts are kept (the oldest go first). A missing file is an
 * empty state and is created on the first write; its directory must exist.
 * Without a state file the client still caches verdicts in memory for its
 * lifetime. KG_OK; KG_ERR_INVAL (empty path); KG_ERR_STATE when the file
 * cannot be read or is not a state file (the client then keeps no state
 * file: remove or move the file to start afresh, losing the cached verdicts
 * and the mark); KG_ERR_NOMEM.
 */
int	kg_client_set_state_file(kg_client *c, const char *path);

/*
 * The outcome of the last attempt to write the state file: KG_OK,
 * KG_ERR_STATE (cannot write: the directory is missing or read-only...) or
 * KG_ERR_NOMEM. A failed write does not fail the request that caused it;
 * KG_ERR_INVAL when c is NULL.
 */
int	kg_client_state_error(const kg_client *c);

/*
 * Clock rollback: when the high-water mark (the newest server time seen,
 * from this run or the state file) is ahead of the local clock by more than
 * the tolerance, the local clock has been set back. Online requests work as
 * usual (the server's dates are authoritative); offline answers report it
 * (kg_result_rollback) and are computed on the high-water mark instead of
 * the local clock. seconds: 0..31622400 (366 days); default
 * KG_DEFAULT_ROLLBACK_TOLERANCE. KG_OK or KG_ERR_INVAL.
 * The mark is never lowered: a mark ahead of the servers' own clocks (an
 * edited state file, or a server whose clock once ran ahead) makes their
 * replies KG_ERR_REPLAY until their clocks pass it. Removing the state file
 * is the way out, and it also drops the cached verdicts.
 */
int	kg_client_set_rollback_tolerance(kg_client *c, int64_t seconds);

/* 1 when the local clock is now behind the high-water mark by more than the tolerance. */
int	kg_client_rollback(const kg_client *c);

/*
 * Close the connection the client keeps open between requests (the next
 * request opens a new one). Harmless when none is open.
 */
void	kg_client_disconnect(kg_client *c);

/* ---- requests ----------------------------------------------------------- */

/*
 * The three requests. key is the license key text (whitespace and line
 * breaks are ignored); product the product code; version the installed
 * version; target the version the product wants to run, or NULL.
 *
 * On KG_OK *out holds the server's verdict. On KG_ERR_SERVER *out holds the
 * server's Error reply (kg_result_error_reason, also kg_result_reason, and
 * kg_result_detail). On any other code *out is NULL. A result is the
 * caller's: kg_result_free().
 *
 * Before a request the client needs at least one server and one trusted
 * key (else KG_ERR_INVAL / KG_ERR_TRUST). A request reuses the client's
 * open connection when there is one and reconnects once when the server
 * had closed it; every request is idempotent on the server (SPEC R10).
 * After any failure the connection is closed.
 *
 * Reply checks, in order, each with its code: the frame decodes
 * (KG_ERR_PROTOCOL); signed by a trusted key that is not compromised
 * (KG_ERR_UNTRUSTED); server time not older than the high-water mark
 * (KG_ERR_REPLAY); our nonce (KG_ERR_NONCE); the hash of our request bytes
 * (KG_ERR_REQUEST_HASH); our protocol version and a result
 * (KG_ERR_PROTOCOL). A reply that fails any of them is not failed over:
 * it is returned at once.
 *
 * A re-signed key in the reply (kg_result_key) has been verified against
 * the trust set and shown to be the same license (same serial) as key.
 *
 * kg_check offline: when no server answered at all (every server failed
 * with KG_ERR_CONNECT, KG_ERR_TIMEOUT or KG_ERR_CLOSED, or the total
 * deadline passed) and the client holds a verified verdict of key's license
 * (same serial; key must verify against the trust set) for product, the
 * answer is KG_OK with a result built from that verdict:
 * kg_result_offline() 1, kg_result_age() its age, kg_result_server_time()
 * its server time, kg_result_server() and kg_result_key() NULL, no quote.
 * It never allows a release the cached verdict did not allow:
 *   1. a cached demo about the key itself (any reason but not_eligible:
 *      revoked, suspended, license_expired, ...) stays that demo;
 *   2. a license expiry that has passed since gives demo/license_expired;
 *   3. the versions allowed offline are exactly the cached eligible version
 *      and, unless the cached verdict was demo, the installed and target
 *      versions it answered; an installed or target version outside them
 *      (anything newer than the cached eligible, or an older release the
 *      server never judged) gives demo/not_eligible;
 *   4. otherwise update (cached eligible newer than installed), fallback
 *      (cached latest newer) or current, reason support_expired once the
 *      cached support expiry has passed, else ok.
 * Dates and the age use the later of the local clock and the high-water
 * mark; kg_result_rollback() is 1 when the local clock is behind the mark
 * by more than the tolerance (the clock was set back: the age and dates
 * then come from the mark). Without such a verdict the error stays
 * (KG_ERR_CONNECT, KG_ERR_TIMEOUT or KG_ERR_CLOSED). Only update-check
 * verdicts (not Error replies) are cached; status and activate never
 * answer offline.
 */
int	kg_check(kg_client *c, const char *key, const char *product,
	    const char *version, const char *target, kg_result **out);

/* Support status of a key: state, expiries, days left, renewal quote. */
int	kg_status(kg_client *c, const char *key, kg_result **out);

/*
 * Renew support with an act number the vendor registered (SPEC R10). The
 * server may refuse: then *out holds a verdict whose reason is not "ok"
 * (act_unknown, act_used, subscription_required, rate_limited...). On
 * success kg_result_reason is "ok", kg_result_has_renewal is 1 and
 * kg_result_key is the renewed key, which the product should store in
 * place of the old one.
 */
int	kg_activate(kg_client *c, const char *key, const char *act, kg_result **out);

/*
 * Verify a key offline against the public keys in kgp1_lines (no server).
 * On KG_OK *out holds what the key says: product, edition, regno, licensee,
 * serial, created, support_expiry (NULL when it is fixed only at first
 * activation), support_months, license_expiry (NULL = perpetual), trial,
 * revision, and kg_result_valid() is 1. Offline verification cannot see a
 * revocation or a renewal: those live on the server.
 * On KG_ERR_KEY *out holds a result with kg_result_valid() 0, reason
 * "bad_key" and kg_result_detail() saying what is wrong with the key.
 * KG_ERR_TRUST when kgp1_lines holds no public key or a bad line;
 * KG_ERR_INVAL or KG_ERR_NOMEM otherwise (then *out is NULL).
 */
int	kg_verify_offline(const char *key, const char *kgp1_lines, kg_result **out);

/* ---- results ------------------------------------------------------------ */

/* Free a result and every string it handed out. NULL is fine. */
void	kg_result_free(kg_result *r);

/* Verdict: "update", "fallback", "current" or "demo"; NULL for status/activate/errors. */
const char	*kg_result_verdict(const kg_result *r);
/* Reason code ("ok", "support_expired", "not_eligible", "act_used", ...). */
const char	*kg_result_reason(const kg_result *r);
/* Human text the server attached (revocation reason...), or the Error reply's detail. */
const char	*kg_result_detail(const kg_result *r);
/* Newest release the key may install, and newest published release (version text). */
const char	*kg_result_eligible(const kg_result *r);
const char	*kg_result_latest(const kg_result *r);
/* Support expiry; NULL when not fixed yet. */
const char	*kg_result_support_expiry(const kg_result *r);
/* License expiry; NULL when the license is perpetual. */
const char	*kg_result_license_expiry(const kg_result *r);
/* Days of support left (negative once expired). */
int		 kg_result_days_left(const kg_result *r);
/* 1 when the reply carries a renewal quote, else 0. */
int		 kg_result_has_quote(const kg_result *r);
/* Quote: "early", "grace" or "standard"; price "1998.00"; support expiry if renewed today. */
const char	*kg_result_quote_kind(const kg_result *r);
const char	*kg_result_quote_price(const kg_result *r);
int64_t		 kg_result_quote_price_minor(const kg_result *r);
const char	*kg_result_quote_new_expiry(const kg_result *r);
/* The re-signed key text when the server changed the key (activation, renewal), else NULL. */
const char	*kg_result_key(const kg_result *r);
/* License fields: registration number, licensee, product, edition. */
const char	*kg_result_regno(const kg_result *r);
const char	*kg_result_licensee(const kg_result *r);
const char	*kg_result_product(const kg_result *r);
const char	*kg_result_edition(const kg_result *r);
/* License state on the server: "active", "revoked" or "suspended". */
const char	*kg_result_state(const kg_result *r);
/* Activation: 1 when a renewal was applied, and its kind, price, new expiry, months and act. */
int		 kg_result_has_renewal(const kg_result *r);
const char	*kg_result_renewal_kind(const kg_result *r);
const char	*kg_result_renewal_price(const kg_result *r);
int64_t		 kg_result_renewal_price_minor(const kg_result *r);
const char	*kg_result_renewal_new_expiry(const kg_result *r);
int		 kg_result_renewal_months(const kg_result *r);
const char	*kg_result_renewal_act(const kg_result *r);
/* rate_limited: seconds until the caller may try again; else 0. */
int		 kg_result_retry_after(const kg_result *r);
/* Server time of the reply (Unix seconds), also of a cached verdict; 0 for kg_verify_offline. */
int64_t		 kg_result_server_time(const kg_result *r);
/* 1 when kg_check answered from the cached verdict because no server answered. */
int		 kg_result_offline(const kg_result *r);
/* Offline answers: seconds since the cached verdict's server time (>= 0); else 0. */
int64_t		 kg_result_age(const kg_result *r);
/* 1 when the local clock is behind the high-water mark by more than the tolerance (set back). */
int		 kg_result_rollback(const kg_result *r);
/* 1 when the server runs on a test clock (its dates are not real ones). */
int		 kg_result_test_clock(const kg_result *r);
/* The Error reply's reason (protocol_version, bad_request, internal...), or NULL. */
const char	*kg_result_error_reason(const kg_result *r);
/* The server ("HOST:PORT" as added) that answered; NULL for offline answers and kg_verify_offline. */
const char	*kg_result_server(const kg_result *r);
/* Offline results: 1 when the key verified; key creation date, serial, revision, trial, term. */
int		 kg_result_valid(const kg_result *r);
const char	*kg_result_created(const kg_result *r);
uint64_t	 kg_result_serial(const kg_result *r);
unsigned int	 kg_result_revision(const kg_result *r);
int		 kg_result_trial(const kg_result *r);
unsigned int	 kg_result_support_months(const kg_result *r);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif
