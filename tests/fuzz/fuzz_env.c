/*
 * The fuzz targets' environment: the failure check, a temporary directory
 * per process, and the fuzz daemon (fuzz.h): a real LMDB store with a fixed
 * catalog in a temporary data dir, a signer on a key generated at start,
 * the trust set and the fixed clock. Every input starts from the store as
 * set up: when an input changed it (an audit record was appended; every
 * change appends one), the store is closed and its data file put back from
 * a snapshot taken after the set-up, then opened again.
 *
 * The catalog is fixed and created in a fixed order, so the store gives the
 * licenses the same serials and registration numbers in every process;
 * gen_corpus.c signs key texts for exactly these licenses.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "date.h"
#include "fuzz.h"
#include "kgerr.h"
#include "license.h"
#include "log.h"
#include "policy.h"
#include "renew.h"
#include "signer.h"
#include "store.h"
#include "version.h"

#define FUZZ_SETUP_TIME		1767225600	/* 2026-01-01: the set-up's audit time */
#define FUZZ_ACTOR		"admin uid=0 root"
#define FUZZ_MAP_SIZE		(64ULL * 1024 * 1024)

static char	tmpdir_path[PATH_MAX];

/* A broken invariant: see fuzz.h. */
void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "fuzz: %s:%d: check failed: %s\n", file, line, what);
	abort();
}

/* Quiet logging and libsodium: see fuzz.h. */
void
fuzz_setup(void)
{
	FUZZ_CHECK(sodium_init() >= 0);
	log_set_level(getenv("KG_FUZZ_DEBUG") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERROR);
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void
tmpdir_remove(void)
{
	if (tmpdir_path[0] != '\0')
		nftw(tmpdir_path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	tmpdir_path[0] = '\0';
}

/* A temporary directory removed at exit: see fuzz.h. */
const char *
fuzz_tmpdir(const char *name)
{
	const char	*tmp = getenv("TMPDIR");

	if (tmpdir_path[0] != '\0')
		return tmpdir_path;
	snprintf(tmpdir_path, sizeof(tmpdir_path), "%s/kg-%s-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name);
	FUZZ_CHECK(mkdtemp(tmpdir_path) != NULL);
	FUZZ_CHECK(atexit(tmpdir_remove) == 0);
	return tmpdir_path;
}

/* ---- the catalog ---- */

struct fuzz_edition {
	const char		*product, *code;
	uint32_t		 months;
	enum kg_basis		 basis;
	enum kg_on_expiry	 on_expiry;
	bool			 subscription;
};

static const struct fuzz_edition editions[] = {
	{ "ZHKH8", "PROF", 6, KG_BASIS_CREATION, KG_ON_EXPIRY_FALLBACK, false },
	{ "ZHKH8", "CORP", 6, KG_BASIS_CREATION, KG_ON_EXPIRY_FALLBACK, true },
	{ "ZHKH8", "BASIC", 6, KG_BASIS_CREATION, KG_ON_EXPIRY_DEMO, false },
	{ "KKT5", "STD", 3, KG_BASIS_ACTIVATION, KG_ON_EXPIRY_FALLBACK, false },
	{ "NGW1", "TRIAL", 12, KG_BASIS_CREATION, KG_ON_EXPIRY_FALLBACK, false },
};

struct fuzz_release {
	const char	*product, *version, *date;
	bool		 withdrawn;
};

static const struct fuzz_release releases[] = {
	{ "ZHKH8", "1.0", "2025-06-01", false },
	{ "ZHKH8", "1.1", "2025-12-01", false },
	{ "ZHKH8", "2.0", "2026-04-20", false },
	{ "ZHKH8", "2.0.1", "2026-05-20", true },
	{ "ZHKH8", "2.1", "2026-09-01", false },	/* scheduled */
	{ "KKT5", "5.0", "2025-01-10", false },
	{ "KKT5", "5.1", "2026-02-01", false },
	{ "KKT5", "5.2", "2026-06-01", false },
	{ "NGW1", "1.0", "2026-01-15", false },
};

struct fuzz_license {
	const char			*product, *edition, *licensee;
	const char			*created, *support, *license;	/* NULL: none */
	bool				 trial;
	uint32_t			 revision, months;
	enum kg_license_status		 status;
	const char			*reason;
};

/* Serials 1..FUZZ_LICENSES, in this order. */
static const struct fuzz_license licenses[FUZZ_LICENSES] = {
	{ "ZHKH8", "PROF", "Example Ltd", "2025-11-01", "2026-05-01", NULL,
	    false, 1, 0, KG_STATUS_ACTIVE, "" },
	{ "ZHKH8", "PROF", "Example Ltd", "2026-03-01", "2026-09-01", NULL,
	    false, 1, 0, KG_STATUS_ACTIVE, "" },
	{ "ZHKH8", "CORP", "Corp Ltd", "2025-11-26", "2026-05-26", NULL,
	    false, 1, 0, KG_STATUS_ACTIVE, "" },
	{ "ZHKH8", "CORP", "No Subscription LLC", "2025-06-01", "2025-12-01",
	    NULL, false, 1, 0, KG_STATUS_ACTIVE, "" },
	{ "ZHKH8", "BASIC", "Small Shop", "2025-06-01", "2025-12-01",
	    "2025-12-01", false, 1, 0, KG_STATUS_ACTIVE, "" },
	{ "KKT5", "STD", "\xd0\x98\xd0\x9f \xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd\xd0\xbe\xd0\xb2",
	    "2026-01-31", NULL, NULL, false, 1, 3, KG_STATUS_ACTIVE, "" },
	{ "NGW1", "TRIAL", "Test Lab GmbH", "2026-06-01", "2026-07-01",
	    "2026-07-01", true, 1, 0, KG_STATUS_ACTIVE, "" },
	{ "ZHKH8", "PROF", "Refund Co", "2026-02-01", "2026-08-01", NULL,
	    false, 1, 0, KG_STATUS_REVOKED, "refund 2026-02-10" },
	{ "ZHKH8", "PROF", "Late Payer", "2026-02-01", "2026-08-01", NULL,
	    false, 1, 0, KG_STATUS_SUSPENDED, "unpaid invoice" },
	{ "KKT5", "STD", "Shop 10", "2026-01-15", "2026-08-01", NULL,
	    false, 2, 3, KG_STATUS_ACTIVE, "" },
};

struct fuzz_act {
	const char	*number, *product, *edition, *licensee;
	uint32_t	 months;
	bool		 voided;
};

static const struct fuzz_act acts[] = {
	{ "A-1001", "ZHKH8", "", "", 12, false },
	{ "A-1002", "ZHKH8", "PROF", "Example Ltd", 12, false },
	{ "A-1003", "KKT5", "", "", 12, false },
	{ "A-1004", "ZHKH8", "", "", 12, true },
	{ "A-1005", "NGW1", "", "", 12, false },
	{ "A-1006", "ZHKH8", "CORP", "", 6, false },
};

static kg_date
day(const char *s)
{
	kg_date	d = KG_DATE_NONE;

	if (s != NULL)
		FUZZ_CHECK(date_parse(s, &d) == 0);
	return d;
}

static struct store_audit
audit(const char *action, const char *object)
{
	struct store_audit	a;

	store_audit_fill(&a, FUZZ_SETUP_TIME, FUZZ_ACTOR, action, object,
	    "fuzz set-up");
	return a;
}

static void
catalog_products(struct store *st)
{
	static const struct {
		const char	*code, *name;
		kg_money	 price;
	} products[] = {
		{ "ZHKH8", "Housing accounting", 799000 },
		{ "KKT5", "Cash register", 150000 },
		{ "NGW1", "Network gateway", 50000 },
	};
	struct store_product	p;
	struct store_audit	a;
	size_t			i;

	for (i = 0; i < sizeof(products) / sizeof(products[0]); i++) {
		memset(&p, 0, sizeof(p));
		snprintf(p.code, sizeof(p.code), "%s", products[i].code);
		snprintf(p.name, sizeof(p.name), "%s", products[i].name);
		p.price = products[i].price;
		p.created_at = FUZZ_SETUP_TIME;
		a = audit("product.add", p.code);
		FUZZ_CHECK(st->ops->product_add(st, &p, &a) == STORE_OK);
	}
}

static void
catalog_editions(struct store *st)
{
	struct store_edition	e;
	struct store_audit	a;
	size_t			i;

	for (i = 0; i < sizeof(editions) / sizeof(editions[0]); i++) {
		memset(&e, 0, sizeof(e));
		snprintf(e.product, sizeof(e.product), "%s", editions[i].product);
		snprintf(e.code, sizeof(e.code), "%s", editions[i].code);
		policy_defaults(&e.policy);
		e.policy.support_months = editions[i].months;
		e.policy.basis = editions[i].basis;
		e.policy.on_expiry = editions[i].on_expiry;
		e.policy.requires_subscription = editions[i].subscription;
		a = audit("edition.add", e.code);
		FUZZ_CHECK(st->ops->edition_add(st, &e, &a) == STORE_OK);
	}
}

static void
catalog_releases(struct store *st)
{
	struct store_release	r;
	struct store_audit	a;
	size_t			i;

	for (i = 0; i < sizeof(releases) / sizeof(releases[0]); i++) {
		memset(&r, 0, sizeof(r));
		snprintf(r.product, sizeof(r.product), "%s", releases[i].product);
		FUZZ_CHECK(version_parse(releases[i].version, &r.rel.version) == 0);
		version_format(&r.rel.version, r.version);
		r.rel.date = day(releases[i].date);
		r.rel.state = KG_RELEASE_PUBLISHED;
		r.published_at = FUZZ_SETUP_TIME;
		a = audit("release.publish", r.version);
		FUZZ_CHECK(st->ops->release_publish(st, &r, &a) == STORE_OK);
		if (!releases[i].withdrawn)
			continue;
		a = audit("release.withdraw", r.version);
		FUZZ_CHECK(st->ops->release_withdraw(st, r.product,
		    &r.rel.version, &a) == STORE_OK);
	}
}

static void
catalog_licenses(struct store *st, const uint8_t key_id[KG_KEY_ID_LEN])
{
	const struct fuzz_license	*l;
	struct store_license		 sl;
	struct store_audit		 a;
	size_t				 i;

	for (i = 0; i < FUZZ_LICENSES; i++) {
		l = &licenses[i];
		memset(&sl, 0, sizeof(sl));
		snprintf(sl.lic.product, sizeof(sl.lic.product), "%s", l->product);
		snprintf(sl.lic.edition, sizeof(sl.lic.edition), "%s", l->edition);
		snprintf(sl.lic.licensee, sizeof(sl.lic.licensee), "%s",
		    l->licensee);
		sl.lic.created = day(l->created);
		sl.lic.support_expiry = day(l->support);
		sl.lic.license_expiry = day(l->license);
		sl.lic.trial = l->trial;
		sl.lic.revision = l->revision;
		sl.lic.support_months = l->months;
		memcpy(sl.lic.key_id, key_id, KG_KEY_ID_LEN);
		sl.status = l->status;
		snprintf(sl.status_reason, sizeof(sl.status_reason), "%s",
		    l->reason);
		sl.updated_at = FUZZ_SETUP_TIME;
		a = audit("key.issue", l->product);
		FUZZ_CHECK(st->ops->license_create(st, &sl, &a) == STORE_OK);
		FUZZ_CHECK(sl.lic.serial == i + 1);
	}
}

static void
catalog_acts(struct store *st)
{
	struct store_act	act;
	struct store_audit	a;
	size_t			i;

	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
		memset(&act, 0, sizeof(act));
		snprintf(act.number, sizeof(act.number), "%s", acts[i].number);
		snprintf(act.product, sizeof(act.product), "%s", acts[i].product);
		snprintf(act.edition, sizeof(act.edition), "%s", acts[i].edition);
		snprintf(act.licensee, sizeof(act.licensee), "%s",
		    acts[i].licensee);
		snprintf(act.registered_by, sizeof(act.registered_by), "%s",
		    FUZZ_ACTOR);
		act.months = acts[i].months;
		act.state = STORE_ACT_OPEN;
		act.registered_at = FUZZ_SETUP_TIME;
		a = audit("act.register", act.number);
		FUZZ_CHECK(st->ops->act_register(st, &act, &a) == STORE_OK);
		if (!acts[i].voided)
			continue;
		a = audit("act.void", act.number);
		FUZZ_CHECK(st->ops->act_void(st, act.number, &a) == STORE_OK);
	}
}

static void
catalog_signing_key(struct fuzz_daemon *fd, const uint8_t pk[KG_PUBKEY_LEN],
    enum kg_trust_state state)
{
	struct store		*st = fd->d.store;
	struct store_signing_key k;
	struct store_audit	 a;

	memset(&k, 0, sizeof(k));
	memcpy(k.pk, pk, KG_PUBKEY_LEN);
	key_id_compute(pk, k.id);
	k.state = state;
	k.created_at = FUZZ_SETUP_TIME;
	a = audit("signing_key.add", "key");
	FUZZ_CHECK(st->ops->signing_key_put(st, &k, &a) == STORE_OK);
	FUZZ_CHECK(trustset_add(&fd->d.trust, pk, state) == KGE_OK);
}

/* ---- the store's snapshot ---- */

static int
audit_count_cb(void *ctx, const struct store_audit *a)
{
	(void)a;
	(*(size_t *)ctx)++;
	return 0;
}

static size_t
audit_count(struct store *st)
{
	size_t	n = 0;

	FUZZ_CHECK(st->ops->audit_list(st, 0, audit_count_cb, &n) == STORE_OK);
	return n;
}

static void
file_read(const char *path, uint8_t **out, size_t *len)
{
	struct stat	 sb;
	uint8_t		*buf;
	int		 fd;

	FUZZ_CHECK((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1);
	FUZZ_CHECK(fstat(fd, &sb) == 0 && sb.st_size > 0);
	FUZZ_CHECK((buf = malloc((size_t)sb.st_size)) != NULL);
	FUZZ_CHECK(read(fd, buf, (size_t)sb.st_size) == sb.st_size);
	close(fd);
	*out = buf;
	*len = (size_t)sb.st_size;
}

static void
store_open(struct fuzz_daemon *fd, bool create)
{
	struct store_options	opt = { .map_size = FUZZ_MAP_SIZE, .create = create };

	FUZZ_CHECK(store_open_lmdb(fd->storedir, &opt, &fd->d.store) == STORE_OK);
}

/* Set up the fuzz daemon: see fuzz.h. */
void
fuzz_daemon_open(struct fuzz_daemon *fd, const char *dir,
    const uint8_t corpus_a[KG_PUBKEY_LEN], const uint8_t corpus_b[KG_PUBKEY_LEN])
{
	struct kg_keypair	*kp;
	struct store		*st;
	struct store_audit	 a;
	char			 path[PATH_MAX + 32], err[256];
	uint8_t			 a_id[KG_KEY_ID_LEN];
	kg_date			 today;

	memset(fd, 0, sizeof(*fd));
	snprintf(fd->d.datadir, sizeof(fd->d.datadir), "%s", dir);
	conf_defaults(&fd->d.conf);
	trustset_init(&fd->d.trust);
	snprintf(fd->peer.host, sizeof(fd->peer.host), "127.0.0.1");
	snprintf(fd->peer.text, sizeof(fd->peer.text), "127.0.0.1:40000");
	today = date_from_ymd(FUZZ_TODAY_Y, FUZZ_TODAY_M, FUZZ_TODAY_D);
	fd->d.test_clock = true;
	fd->d.clock_offset = date_to_time(today) + 43200 - time(NULL);

	/* The signing key: generated now, never committed. */
	snprintf(path, sizeof(path), "%s/signing.key", dir);
	FUZZ_CHECK((kp = keypair_generate_new()) != NULL);
	FUZZ_CHECK(keyfile_write(path, kp, NULL, 0, 0) == KGE_OK);
	keypair_free(kp);
	if (signer_open(path, NULL, &fd->d.signer, err, sizeof(err)) != KGE_OK) {
		fprintf(stderr, "fuzz: signer_open: %s\n", err);
		abort();
	}

	snprintf(fd->storedir, sizeof(fd->storedir), "%s/store", dir);
	FUZZ_CHECK(mkdir(fd->storedir, 0700) == 0);
	store_open(fd, true);
	st = fd->d.store;
	catalog_products(st);
	catalog_editions(st);
	catalog_releases(st);
	key_id_compute(corpus_a, a_id);
	catalog_licenses(st, a_id);
	catalog_acts(st);
	a = audit("subscription.set", "Corp Ltd");
	FUZZ_CHECK(st->ops->subscription_set(st, "Corp Ltd",
	    date_from_ymd(2027, 1, 1), &a) == STORE_OK);
	catalog_signing_key(fd, signer_pubkey(fd->d.signer), KG_TRUST_ACTIVE);
	catalog_signing_key(fd, corpus_a, KG_TRUST_RETIRED);
	catalog_signing_key(fd, corpus_b, KG_TRUST_COMPROMISED);

	snprintf(path, sizeof(path), "%s/snapshot.mdb", dir);
	FUZZ_CHECK(st->ops->backup(st, path) == STORE_OK);
	file_read(path, &fd->snapshot, &fd->snapshot_len);
	fd->audits = audit_count(st);
}

/* Put the store back when an input changed it: see fuzz.h. */
void
fuzz_daemon_reset(struct fuzz_daemon *fd)
{
	char	path[PATH_MAX + 32];
	int	f;

	renew_limits_free();
	if (audit_count(fd->d.store) == fd->audits)
		return;
	fd->d.store->ops->close(fd->d.store);
	fd->d.store = NULL;
	snprintf(path, sizeof(path), "%s/data.mdb", fd->storedir);
	FUZZ_CHECK((f = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) != -1);
	FUZZ_CHECK(write(f, fd->snapshot, fd->snapshot_len) ==
	    (ssize_t)fd->snapshot_len);
	FUZZ_CHECK(close(f) == 0);
	store_open(fd, false);
	FUZZ_CHECK(audit_count(fd->d.store) == fd->audits);
}

/* Close what fuzz_daemon_open opened. */
void
fuzz_daemon_close(struct fuzz_daemon *fd)
{
	renew_limits_free();
	if (fd->d.store != NULL)
		fd->d.store->ops->close(fd->d.store);
	fd->d.store = NULL;
	signer_close(fd->d.signer);
	fd->d.signer = NULL;
	trustset_clear(&fd->d.trust);
	free(fd->snapshot);
	fd->snapshot = NULL;
}
