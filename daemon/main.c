/*
 * keygated: arguments, the data dir (init), the configuration, and the event
 * loop that serves the public TCP listener and the admin socket (run).
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sodium.h>

#include "admin.h"
#include "admin_ops.h"
#include "daemon.h"
#include "kgerr.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "rotation.h"
#include "signer.h"
#include "store.h"
#include "worker.h"

#define PUBKEY_FILE_NAME	ROTATION_PUBKEY_FILE

struct options {
	const char	*data;
	const char	*listen;
	const char	*passphrase_file;
	const char	*port_file;
	const char	*test_clock;
	const char	*log_level;
	int		 check_only;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: keygated init   [--data DIR] [--passphrase-file F] [--listen HOST:PORT]\n"
	    "       keygated run    [--data DIR] [--listen HOST:PORT] [--passphrase-file F]\n"
	    "                       [--port-file F] [--log-level LEVEL] [--check]\n"
	    "                       [--test-clock YYYY-MM-DD]\n"
	    "       keygated pubkey [--data DIR]\n"
	    "       keygated check-config [--data DIR]\n"
	    "       keygated --version\n"
	    "DIR defaults to %s.\n", KG_DEFAULT_DATA_DIR);
}

static void
path_join(char *out, size_t len, const char *dir, const char *name)
{
	if (name[0] == '/')
		snprintf(out, len, "%s", name);
	else
		snprintf(out, len, "%s/%s", dir, name);
}

static int
write_pubkey_file(const char *path, const uint8_t pk[KG_PUBKEY_LEN])
{
	char	 text[KG_PUBKEY_TEXT_MAX];
	FILE	*f;

	pubkey_format(pk, text);
	if ((f = fopen(path, "wx")) == NULL)
		return -1;
	fprintf(f, "%s\n", text);
	return fclose(f);
}

/* keygated init: a new data dir with config, store and a fresh signing key. */
static int
cmd_init(const struct options *o)
{
	char			 path[PATH_MAX], keypath[PATH_MAX], pubtext[KG_PUBKEY_TEXT_MAX];
	char			*pass = NULL;
	struct kg_keypair	*kp = NULL;
	struct store		*st = NULL;
	struct store_options	 sopt = { .map_size = 1024ULL << 20, .create = true };
	struct store_signing_key sk;
	struct store_audit	 audit;
	struct config		 c;
	FILE			*f;
	int			 rc, ret = 1;

	if (mkdir(o->data, 0750) == -1 && errno != EEXIST) {
		fprintf(stderr, "keygated: cannot create %s: %s\n", o->data, strerror(errno));
		return 1;
	}
	path_join(path, sizeof(path), o->data, CONF_FILE_NAME);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "keygated: %s is already a keygate data dir (it has %s); "
		    "use another --data DIR\n", o->data, CONF_FILE_NAME);
		return 1;
	}
	if (o->passphrase_file != NULL &&
	    (pass = passphrase_read_new(o->passphrase_file)) == NULL) {
		fprintf(stderr, "keygated: cannot read passphrase file %s: %s\n",
		    o->passphrase_file, strerror(errno));
		return 1;
	}
	if ((kp = keypair_generate_new()) == NULL) {
		fprintf(stderr, "keygated: out of memory\n");
		goto fail;
	}
	conf_defaults(&c);
	path_join(keypath, sizeof(keypath), o->data, c.key_file);
	rc = keyfile_write(keypath, kp, pass, crypto_pwhash_OPSLIMIT_MODERATE,
	    crypto_pwhash_MEMLIMIT_MODERATE);
	if (rc != KGE_OK) {
		fprintf(stderr, "keygated: cannot write %s: %s\n", keypath, kge_strerror(rc));
		goto fail;
	}
	if (conf_write_default(path) == -1) {
		fprintf(stderr, "keygated: cannot write %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (o->listen != NULL || o->passphrase_file != NULL) {
		char abs[PATH_MAX];

		if ((f = fopen(path, "a")) == NULL)
			goto fail;
		if (o->listen != NULL)
			fprintf(f, "listen = %s\n", o->listen);
		if (o->passphrase_file != NULL)
			fprintf(f, "passphrase_file = %s\n",
			    realpath(o->passphrase_file, abs) ? abs : o->passphrase_file);
		fclose(f);
	}
	path_join(path, sizeof(path), o->data, PUBKEY_FILE_NAME);
	if (write_pubkey_file(path, kp->pk) == -1) {
		fprintf(stderr, "keygated: cannot write %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (store_open_lmdb(o->data, &sopt, &st) != STORE_OK) {
		fprintf(stderr, "keygated: cannot create the store in %s\n", o->data);
		goto fail;
	}
	memset(&sk, 0, sizeof(sk));
	memcpy(sk.pk, kp->pk, sizeof(sk.pk));
	memcpy(sk.id, kp->id, sizeof(sk.id));
	sk.state = KG_TRUST_ACTIVE;
	sk.created_at = time(NULL);
	pubkey_format(kp->pk, pubtext);
	store_audit_fill(&audit, sk.created_at, "keygated init", "signing-key.create",
	    pubtext, "new active signing key");
	if (st->ops->signing_key_put(st, &sk, &audit) != STORE_OK) {
		fprintf(stderr, "keygated: cannot record the signing key in the store\n");
		goto fail;
	}
	printf("%s\n", pubtext);
	fprintf(stderr, "keygated: initialised %s (%s signing key)\n", o->data,
	    pass != NULL ? "sealed" : "unsealed, mode 0600,");
	ret = 0;
fail:
	if (st != NULL)
		st->ops->close(st);
	keypair_free(kp);
	passphrase_free(pass);
	return ret;
}

/* keygated pubkey: print the public key to embed in products. */
static int
cmd_pubkey(const struct options *o)
{
	char	 path[PATH_MAX], line[256];
	uint8_t	 pk[KG_PUBKEY_LEN];
	FILE	*f;

	path_join(path, sizeof(path), o->data, PUBKEY_FILE_NAME);
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "keygated: cannot read %s: %s (is %s a data dir? "
		    "make one with: keygated init --data %s)\n", path, strerror(errno),
		    o->data, o->data);
		return 1;
	}
	if (fgets(line, sizeof(line), f) == NULL || pubkey_parse(line, pk) != KGE_OK) {
		fclose(f);
		fprintf(stderr, "keygated: %s: %s\n", path, kge_strerror(KGE_PUBKEY_FORMAT));
		return 1;
	}
	fclose(f);
	pubkey_format(pk, line);
	printf("%s\n", line);
	return 0;
}

static int
load_config(const struct options *o, struct config *c)
{
	char	path[PATH_MAX], err[PATH_MAX + 128];

	conf_defaults(c);
	path_join(path, sizeof(path), o->data, CONF_FILE_NAME);
	if (access(path, F_OK) == -1) {
		fprintf(stderr, "keygated: %s is not a keygate data dir (no %s); "
		    "make one with: keygated init --data %s\n", o->data, CONF_FILE_NAME, o->data);
		return -1;
	}
	if (conf_load(path, c, err, sizeof(err)) == -1) {
		fprintf(stderr, "keygated: %s\n", err);
		return -1;
	}
	if (o->listen != NULL)
		snprintf(c->listen, sizeof(c->listen), "%s", o->listen);
	if (o->passphrase_file != NULL)
		snprintf(c->passphrase_file, sizeof(c->passphrase_file), "%s", o->passphrase_file);
	if (o->port_file != NULL)
		snprintf(c->port_file, sizeof(c->port_file), "%s", o->port_file);
	if (o->log_level != NULL && log_level_parse(o->log_level, &c->log_level) == -1) {
		fprintf(stderr, "keygated: --log-level: expected error, warn, info or debug\n");
		return -1;
	}
	if (c->admin_socket[0] == '\0')
		path_join(c->admin_socket, sizeof(c->admin_socket), o->data, ADMIN_SOCKET_NAME);
	return 0;
}

static int
trust_cb(void *ctx, const struct store_signing_key *k)
{
	return trustset_add(ctx, k->pk, k->state) == KGE_OK ? 0 : 1;
}

/* The store's active signing key (the newest when, oddly, there are several). */
static int
active_key_cb(void *ctx, const struct store_signing_key *k)
{
	struct store_signing_key	*a = ctx;

	if (k->state == KG_TRUST_ACTIVE &&
	    (a->state != KG_TRUST_ACTIVE || k->created_at > a->created_at))
		*a = *k;
	return 0;
}

/*
 * Finish or undo a signing-key rotation cut short (signer.h,
 * daemon/admin_signing.c), then make signing.pub name the key the signer
 * signs with. 0 or -1 (logged).
 */
static int
rotation_recover(struct daemon *d)
{
	struct store_signing_key	active;

	memset(&active, 0, sizeof(active));
	active.state = KG_TRUST_RETIRED;	/* none found yet */
	if (d->store->ops->signing_key_list(d->store, active_key_cb,
	    &active) != STORE_OK) {
		log_error("cannot read the signing keys from the store");
		return -1;
	}
	if (signer_rotate_recover(d->signer, active.state == KG_TRUST_ACTIVE ?
	    active.pk : NULL) == -1)
		return -1;
	if (rotation_pubkey_sync(d->datadir, signer_pubkey(d->signer)) == -1)
		log_warn("%s/%s may not name the active signing key: 'keygated "
		    "pubkey' prints what it says", d->datadir, PUBKEY_FILE_NAME);
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;
	struct timeval	 grace = { 2, 0 };

	(void)what;
	log_info("signal %d: stopping (in-flight requests finish)", (int)sig);
	workers_stop(d, (int)grace.tv_sec);
	event_base_loopexit(d->base, &grace);
}

/* What SIGHUP reloads: the options keygated run was started with. */
static const struct options	*run_options;

/*
 * SIGHUP: read the configuration into a fresh struct and, only when it is
 * valid, swap in the settings that apply on the fly (limits, timeouts, log
 * level, admin uids). Settings bound at start (listen, sockets, key file,
 * map size, metrics) keep their running values; a change to one is logged
 * as needing a restart.
 */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon	*d = arg;
	struct config	 c;

	(void)sig;
	(void)what;
	if (load_config(run_options, &c) == -1) {
		log_warn("SIGHUP: configuration not reloaded (see the line above); "
		    "keeping the running one");
		return;
	}
#define KEEP(field) do {						\
	if (memcmp(&c.field, &d->conf.field, sizeof(c.field)) != 0)	\
		log_warn("SIGHUP: %s changed: restart keygated to apply it", \
		    #field);						\
	memcpy(&c.field, &d->conf.field, sizeof(c.field));		\
} while (0)
	KEEP(listen);
	KEEP(admin_socket);
	KEEP(key_file);
	KEEP(passphrase_file);
	KEEP(port_file);
	KEEP(map_size_mb);
	KEEP(map_size_max_mb);
	KEEP(metrics_listen);
	KEEP(metrics_allow_remote);
	KEEP(metrics_port_file);
	KEEP(workers);
#undef KEEP
	daemon_exclusive_enter(d);
	d->conf = c;
	log_set_level(d->conf.log_level);
	daemon_exclusive_leave(d);
	log_info("SIGHUP: configuration reloaded");
}

/*
 * The signer gave up (it logged why): stop now; keygated exits 1. Any
 * thread may get here, so only end the main loop (thread safe); the
 * workers are stopped after it (workers_free).
 */
static void
on_signer_stop(void *arg)
{
	struct daemon	*d = arg;

	event_base_loopexit(d->base, NULL);
}

/* keygated run: serve until SIGTERM/SIGINT. */
static int
cmd_run(const struct options *o)
{
	struct daemon		 d;
	struct store_options	 sopt = { 0 };
	struct event		*sigterm = NULL, *sigint = NULL, *sighup = NULL;
	char			 keypath[PATH_MAX], err[PATH_MAX + 256];
	int			 rc, ret = 1;

	memset(&d, 0, sizeof(d));
	pthread_rwlock_init(&d.lock, NULL);
	pthread_mutex_init(&d.turn, NULL);
	snprintf(d.datadir, sizeof(d.datadir), "%s", o->data);
	trustset_init(&d.trust);
	if (load_config(o, &d.conf) == -1)
		return 1;
	if (o->check_only) {
		printf("configuration OK\n");
		return 0;
	}
	log_set_level(d.conf.log_level);
	log_route_libevent();
	if (o->test_clock != NULL) {
		kg_date	day;
		time_t	now = time(NULL);

		if (date_parse(o->test_clock, &day) == -1) {
			fprintf(stderr, "keygated: --test-clock: expected YYYY-MM-DD\n");
			return 1;
		}
		d.test_clock = true;
		d.clock_offset = date_to_time(day) + now % 86400 - now;
		log_warn("TEST CLOCK: today is %s for this keygated; replies say so. "
		    "Never use --test-clock in production", o->test_clock);
	}
	path_join(keypath, sizeof(keypath), o->data, d.conf.key_file);
	if ((rc = signer_open(keypath, d.conf.passphrase_file, &d.signer, err,
	    sizeof(err))) != KGE_OK) {
		fprintf(stderr, "keygated: %s\n", err);
		goto fail;
	}
	sopt.map_size = d.conf.map_size_mb << 20;
	sopt.map_size_max = d.conf.map_size_max_mb << 20;
	if ((rc = store_open_lmdb(o->data, &sopt, &d.store)) != STORE_OK) {
		fprintf(stderr, "keygated: cannot open the store in %s: %s\n", o->data,
		    store_strerror(rc));
		goto fail;
	}
	if (rotation_recover(&d) == -1) {
		fprintf(stderr, "keygated: cannot finish the signing-key rotation "
		    "that was cut short: see the log lines above\n");
		goto fail;
	}
	if (d.store->ops->signing_key_list(d.store, trust_cb, &d.trust) != STORE_OK ||
	    trustset_add(&d.trust, signer_pubkey(d.signer), KG_TRUST_ACTIVE) != KGE_OK) {
		fprintf(stderr, "keygated: cannot load the trusted signing keys\n");
		goto fail;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Before any event base: worker threads wake each other's loops. */
	if (evthread_use_pthreads() == -1)
		fatal("evthread_use_pthreads failed");
	if ((d.base = event_base_new()) == NULL)
		fatal("event_base_new failed");
	sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	run_options = o;
	sighup = evsignal_new(d.base, SIGHUP, on_hup, &d);
	if (sigterm == NULL || sigint == NULL || sighup == NULL ||
	    evsignal_add(sigterm, NULL) == -1 || evsignal_add(sigint, NULL) == -1 ||
	    evsignal_add(sighup, NULL) == -1)
		fatal("cannot install signal handlers");
	if (signer_watch(d.signer, d.base, on_signer_stop, &d) == -1)
		fatal("cannot watch the signer process");
	if (admin_start(&d, err, sizeof(err)) == -1) {
		fprintf(stderr, "keygated: admin socket: %s\n", err);
		goto fail;
	}
	/* Before the public port, whose port file says "both are up". */
	if (metrics_start(&d, err, sizeof(err)) == -1) {
		fprintf(stderr, "keygated: %s\n", err);
		goto fail;
	}
	if (workers_start(&d, err, sizeof(err)) == -1) {
		fprintf(stderr, "keygated: %s\n", err);
		goto fail;
	}
	log_info("serving on %s; admin socket %s", d.conf.listen, d.conf.admin_socket);
	event_base_dispatch(d.base);
	log_info("stopped");
	ret = signer_failed(d.signer) ? 1 : 0;
fail:
	workers_free(&d);
	if (d.admin != NULL)
		admin_free(d.admin);
	admin_csv_sessions_free();
	admin_bg_orphans_wait();	/* before the store closes */
	metrics_stop();
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (sighup != NULL)
		event_free(sighup);
	signer_close(d.signer);
	if (d.base != NULL)
		event_base_free(d.base);
	if (d.store != NULL)
		d.store->ops->close(d.store);
	trustset_clear(&d.trust);
	return ret;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "test-clock", required_argument, NULL, 'T' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct options	 o = { .data = KG_DEFAULT_DATA_DIR };
	const char	*cmd;
	int		 ch;

	if (sodium_init() < 0) {
		fprintf(stderr, "keygated: libsodium failed to initialise\n");
		return 1;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("keygated %s\n", KG_VERSION_TEXT);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		usage(argc < 2 ? stderr : stdout);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 1;
	}
	cmd = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o.data = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'p': o.passphrase_file = optarg; break;
		case 'P': o.port_file = optarg; break;
		case 'T': o.test_clock = optarg; break;
		case 'L': o.log_level = optarg; break;
		case 'n': o.check_only = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("keygated %s\n", KG_VERSION_TEXT); return 0;
		default:
			fprintf(stderr, "keygated: see 'keygated --help'\n");
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "keygated: unexpected argument \"%s\"; see 'keygated --help'\n",
		    argv[optind]);
		return 1;
	}
	if (strcmp(cmd, "init") == 0)
		return cmd_init(&o);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(&o);
	if (strcmp(cmd, "pubkey") == 0)
		return cmd_pubkey(&o);
	if (strcmp(cmd, "check-config") == 0) {
		o.check_only = 1;
		return cmd_run(&o);
	}
	fprintf(stderr, "keygated: unknown command \"%s\"; see 'keygated --help'\n", cmd);
	return 1;
}
