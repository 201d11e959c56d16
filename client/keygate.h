/*
 * libkeygate: the product side of keygate.
 *
 * A product links this library to ask a keygate server "may this key
 * install updates?" and to renew support with an act number, and to verify
 * a license key offline against the vendor's public key. Every reply from
 * the server is checked before anything in it is believed: it must be
 * signed (Ed25519, domain "keygate-reply-v1") by a key of the client's trust
 * set, carry the nonce the client sent, and carry the BLAKE2b-256 hash of the
 * exact request bytes the client sent.
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
 */
#ifndef KEYGATE_H
#define KEYGATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this header's API; bumped when functions are added. */
#define KG_API_VERSION	1

/* Default TCP port of keygated's public listener. */
#define KG_DEFAULT_PORT	7447

/* Default timeouts in milliseconds (kg_client_set_timeouts). */
#define KG_DEFAULT_CONNECT_MS	3000
#define KG_DEFAULT_IO_MS	10000

/* Return codes. The values are stable: products may store or log them. */
#define KG_OK			0
#define KG_ERR_INVAL		(-1)	/* a bad argument: NULL, empty, too long, not a number */
#define KG_ERR_NOMEM		(-2)	/* out of memory */
#define KG_ERR_CONNECT		(-3)	/* no server could be reached (every server was tried) */
#define KG_ERR_TIMEOUT		(-4)	/* the server did not answer within the I/O timeout */
#define KG_ERR_CLOSED		(-5)	/* the server closed the connection without answering */
#define KG_ERR_PROTOCOL		(-6)	/* malformed reply: bad frame, oversize, bad protobuf, other protocol */
#define KG_ERR_UNTRUSTED	(-7)	/* reply signed by a key not in the trust set, or bad signature */
#define KG_ERR_NONCE		(-8)	/* reply nonce is not ours: a replayed reply */
#define KG_ERR_REQUEST_HASH	(-9)	/* reply answers another request */
#define KG_ERR_REPLAY		(-10)	/* reply's server time is older than one already seen */
#define KG_ERR_SERVER		(-11)	/* the server answered with an Error reply: see kg_result_error_reason */
#define KG_ERR_KEY		(-12)	/* offline: the license key does not verify (see kg_result_detail) */
#define KG_ERR_TRUST		(-13)	/* no trusted public key, or public key text that is not "KGP1." lines */

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
 * address of each server), io_ms for one whole request (sending it and
 * reading the whole reply). 1..3600000 each; KG_OK or KG_ERR_INVAL.
 */
int	kg_client_set_timeouts(kg_client *c, int connect_ms, int io_ms);

/*
 * Replay high-water mark: the newest server time (Unix seconds) this client
 * has accepted. A reply whose server time is older is refused with
 * KG_ERR_REPLAY (SPEC section 4). A product that keeps state between runs
 * saves kg_client_time_floor() and restores it with
 * kg_client_set_time_floor() (which never lowers the mark). 0 = none.
 */
void	kg_client_set_time_floor(kg_client *c, int64_t server_time);
int64_t	kg_client_time_floor(const kg_client *c);

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
 * A re-signed key in the reply (kg_result_key) has been verified against
 * the trust set and shown to be the same license (same serial) as key.
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
/* Server time of the reply (Unix seconds); 0 for offline results. */
int64_t		 kg_result_server_time(const kg_result *r);
/* 1 when the server runs on a test clock (its dates are not real ones). */
int		 kg_result_test_clock(const kg_result *r);
/* The Error reply's reason (protocol_version, bad_request, internal...), or NULL. */
const char	*kg_result_error_reason(const kg_result *r);
/* The server ("HOST:PORT" as added) that answered; NULL for offline results. */
const char	*kg_result_server(const kg_result *r);
/* Offline results: 1 when the key verified; key creation date, serial, revision, trial, term. */
int		 kg_result_valid(const kg_result *r);
const char	*kg_result_created(const kg_result *r);
uint64_t	 kg_result_serial(const kg_result *r);
unsigned int	 kg_result_revision(const kg_result *r);
int		 kg_result_trial(const kg_result *r);
unsigned int	 kg_result_support_months(const kg_result *r);

#ifdef __cplusplus
}
#endif

#endif
