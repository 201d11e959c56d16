/*
 * libkeygate's private header: the structures behind the opaque handles of
 * keygate.h and the functions the library's files share. Nothing here is
 * exported from libkeygate.so (only kg_* symbols are; see keygate.map).
 *
 * Files: client.c (handles and settings), transport.c (sockets, deadlines,
 * failover), request.c (building requests; kg_check, kg_status,
 * kg_activate, kg_verify_offline), reply.c (every check a reply passes),
 * state.c (the state file), offline.c (answers from the last verdict when
 * no server answers), result.c (results and their accessors), rotation.c
 * (trusting a rotated signing key through a chain of rotation statements).
 */
#ifndef KG_CLIENT_INT_H
#define KG_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "date.h"
#include "keygate.h"
#include "keys.h"
#include "kglimits.h"
#include "money.h"
#include "version.h"

#define CLIENT_NONCE_LEN	32		/* within KG_NONCE_MIN..KG_NONCE_MAX */
#define CLIENT_TIMEOUT_MAX	3600000		/* one hour, in ms */
#define CLIENT_HOST_MAX		255		/* DNS names are shorter */
#define CLIENT_TRUST_FILE_MAX	(1024 * 1024)
#define CLIENT_CODE_TEXT_LEN	16		/* quote and renewal kinds */

#define STATE_FILE_MAX		(1024 * 1024)	/* a state file is small */
#define STATE_ENTRIES_MAX	32		/* verdicts kept: (serial, product) pairs */
#define STATE_BLOB_MAX		16384		/* a cached request or reply, in bytes */
#define STATE_TOLERANCE_MAX	(366 * 86400)	/* rollback tolerance, seconds */
#define ROTATION_STATEMENTS_MAX	64		/* taken from one reply, kept in the state file */
#define ROTATION_STATEMENT_MAX	512		/* bytes of one serialized statement */

struct Keygate__Request;
struct Keygate__Reply;

/* A server as added: the text for kg_result_server, and its parts. */
struct kg_server {
	char	*text;
	char	*host;
	char	 port[8];
};

/*
 * One remembered verdict: the exact Request bytes we sent (without the
 * frame length) and the exact signed Reply bytes that answered them. serial,
 * product and server_time are read from those bytes when they are stored or
 * loaded; they are lookup keys only. Nothing is believed before
 * reply_verify_cached() has checked the pair again against the trust set.
 */
struct state_entry {
	uint8_t		*request;
	size_t		 request_len;
	uint8_t		*reply;
	size_t		 reply_len;
	uint64_t	 serial;
	char		 product[KG_CODE_MAX + 1];
	int64_t		 server_time;
};

/*
 * A rotation statement (keygate.proto RotationStatement, as received) that
 * proved a signing key: the "trusted" lines of the state file. pk is the
 * key it introduces, read from it; it proves nothing until
 * rotation_chain_apply has checked it against the trust set again.
 */
struct client_rotation {
	uint8_t		*buf;
	size_t		 len;
	uint8_t		 pk[KG_PUBKEY_LEN];
};

/* The verdict cache and the file that keeps it (and the high-water mark). */
struct client_state {
	char			*path;		/* NULL: kept in memory only */
	struct state_entry	*entry;
	size_t			 n;
	struct client_rotation	*rot;		/* statements that proved a key */
	size_t			 nrot;
	int			 last_error;	/* KG_OK or the last save's error */
};

struct kg_client {
	struct kg_server	*server;
	size_t			 nserver;
	struct kg_trustset	 trust;
	int			 connect_ms;
	int			 io_ms;
	int			 total_ms;	/* 0: no deadline across servers */
	int64_t			 tolerance;	/* rollback tolerance, seconds */
	int			 fd;		/* open connection or -1 */
	size_t			 fd_server;	/* index of its server */
	int64_t			 time_floor;	/* newest server time accepted */
	struct client_state	 state;
};

struct kg_result {
	bool	 error;			/* an Error reply */
	bool	 valid;			/* kg_verify_offline: the key verified */
	bool	 offline;		/* kg_check answered from the last verdict */
	bool	 rollback;		/* the local clock is behind the high-water mark */
	int64_t	 age;			/* offline: seconds since its server time */
	char	*verdict, *reason, *detail, *eligible, *latest, *key;
	char	*regno, *licensee, *product, *edition, *state;
	char	*renewal_act, *error_reason, *server;
	char	 quote_kind[CLIENT_CODE_TEXT_LEN];
	char	 renewal_kind[CLIENT_CODE_TEXT_LEN];
	char	 support_expiry[KG_DATE_TEXT_LEN], license_expiry[KG_DATE_TEXT_LEN];
	char	 created[KG_DATE_TEXT_LEN];
	char	 quote_new_expiry[KG_DATE_TEXT_LEN];
	char	 renewal_new_expiry[KG_DATE_TEXT_LEN];
	char	 quote_price[KG_MONEY_TEXT_LEN], renewal_price[KG_MONEY_TEXT_LEN];
	int64_t	 quote_price_minor, renewal_price_minor;
	bool	 has_quote, has_renewal, trial, test_clock;
	int	 days_left, retry_after, renewal_months;
	unsigned int revision, support_months;
	uint64_t serial;
	int64_t	 server_time;
};

/* One request on its way: the frame we send and what the reply must match. */
struct client_req {
	uint8_t	*frame;			/* 4-byte length + Request bytes */
	size_t	 frame_len;
	uint8_t	 nonce[KG_NONCE_MAX];
	size_t	 nonce_len;
	uint8_t	 hash[KG_HASH_LEN];	/* BLAKE2b-256 of the Request bytes */
	bool	 have_serial;		/* the key we sent decodes */
	uint64_t serial;		/* ... and names this license */
};

/* client.c */
int64_t		 client_clock_now(void);
bool		 client_rollback(const kg_client *c, int64_t now);

/* transport.c */
bool		 transport_unreachable(int rc);
int		 transport_transact(kg_client *c, const struct client_req *rq,
		    uint8_t **reply, size_t *reply_len, size_t *server);
int		 transport_transact_kept(kg_client *c, const struct client_req *rq,
		    uint8_t **reply, size_t *reply_len);

/* reply.c */
/*
 * KGE_OK when rep (a Keygate__Reply) is signed by pk in the direct or the
 * batched form (proto/README.md "Batched reply signatures").
 */
int		 reply_signature_verify(const uint8_t pk[KG_PUBKEY_LEN],
		    const struct Keygate__Reply *rep);
int		 reply_verify(kg_client *c, const struct client_req *rq,
		    const uint8_t *buf, size_t len, const char *server,
		    kg_result **out);
int		 reply_verify_cached(const kg_client *c,
		    const struct state_entry *e, kg_result **out,
		    char *installed, char *target);

/* request.c */
int		 request_build(struct client_req *rq, struct Keygate__Request *req);
int		 request_key_clean(const char *key, char **out);
bool		 request_key_serial(const char *key, uint64_t *serial);
int		 request_check_info(const uint8_t *buf, size_t len,
		    uint64_t *serial, char product[KG_CODE_MAX + 1]);

/* state.c */
int		 state_rotation_add(struct client_state *st, const uint8_t *buf,
		    size_t len);
void		 state_init(struct client_state *st);
void		 state_clear(struct client_state *st);
int		 state_attach(kg_client *c, const char *path);
int		 state_remember(kg_client *c, const uint8_t *request,
		    size_t request_len, const uint8_t *reply, size_t reply_len);
int		 state_save(kg_client *c);
const struct state_entry *state_find(const struct client_state *st,
		    uint64_t serial, const char *product);
int		 state_read(const char *path, struct client_state *st,
		    int64_t *high_water);
int		 state_format_new(const struct client_state *st,
		    int64_t high_water, char **out, size_t *len);

/* offline.c */
int		 offline_answer(kg_client *c, const char *key, const char *product,
		    const char *version, const char *target, kg_result **out);
int		 offline_rule(kg_result *r, const char *cached_installed,
		    const char *cached_target, const char *installed,
		    const char *target, kg_date today);

/* rotation.c */
int		 rotation_statement_key(const uint8_t *buf, size_t len,
		    uint8_t pk[KG_PUBKEY_LEN]);
int		 rotation_chain_apply(struct kg_trustset *ts,
		    const struct client_rotation *rot, size_t n, bool *used);
int		 rotation_learn(kg_client *c, const uint8_t *reply, size_t len);
int		 rotation_apply_state(kg_client *c);

/* result.c */
kg_result	*result_new(void);
int		 result_str(char **dst, const char *s);
int		 result_set(char **dst, const char *s);

#endif
