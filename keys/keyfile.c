/*
 * Secret key files and passphrase files. A key file is one text line:
 *
 *   plain   "KGS1." base64url(seed[32] || pk[32] || check[32])
 *   sealed  "KGE1." base64url(salt[16] || opslimit[8] || memlimit[8] ||
 *                             nonce[24] || secretbox(seed || pk)[80] ||
 *                             check[32])
 *
 * opslimit and memlimit are unsigned 64-bit big-endian, the box key is
 * Argon2id(passphrase, salt, opslimit, memlimit) and check is BLAKE2b-256 of
 * the decoded bytes before it, so damage to the file (KGE_FILE_CORRUPT) is
 * told apart from a wrong passphrase (KGE_PASSPHRASE). Files are created 0600
 * with O_EXCL and refused on load when group or others may read them. Every
 * buffer that holds secret bytes, text included, is sodium_malloc'd and
 * wiped.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kgerr.h"
#include "keys.h"
#include "text.h"

#define KF_PLAIN_PREFIX		"KGS1."
#define KF_SEALED_PREFIX	"KGE1."
#define KF_PREFIX_LEN		5
#define KF_VARIANT		sodium_base64_VARIANT_URLSAFE_NO_PADDING

#define KF_SEED_LEN		32
#define KF_CHECK_LEN		KG_HASH_LEN
#define KF_SECRET_LEN		(KF_SEED_LEN + KG_PUBKEY_LEN)
#define KF_SALT_LEN		crypto_pwhash_SALTBYTES
#define KF_NONCE_LEN		crypto_secretbox_NONCEBYTES
#define KF_BOX_LEN		(KF_SECRET_LEN + crypto_secretbox_MACBYTES)
#define KF_BOXKEY_LEN		crypto_secretbox_KEYBYTES

/* Offsets in the decoded sealed blob. */
#define KF_OFF_SALT		0
#define KF_OFF_OPS		(KF_OFF_SALT + KF_SALT_LEN)
#define KF_OFF_MEM		(KF_OFF_OPS + 8)
#define KF_OFF_NONCE		(KF_OFF_MEM + 8)
#define KF_OFF_BOX		(KF_OFF_NONCE + KF_NONCE_LEN)

#define KF_PLAIN_BIN_LEN	(KF_SECRET_LEN + KF_CHECK_LEN)
#define KF_SEALED_BIN_LEN	(KF_OFF_BOX + KF_BOX_LEN + KF_CHECK_LEN)
#define KF_BIN_MAX		KF_SEALED_BIN_LEN

/* Base64 characters of n bytes without padding. */
#define KF_B64_CHARS(n)		(((n) * 4 + 2) / 3)

#define KF_TEXT_MAX		512	/* longer is not a key file */
#define KF_PASSPHRASE_MAX	4096	/* first line of a passphrase file */

static int
keyfile_sodium_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

static void
keyfile_put_u64(uint8_t *p, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
keyfile_get_u64(const uint8_t *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Whether an Argon2id cost is one we write and accept. */
static int
keyfile_cost_ok(uint64_t ops, uint64_t mem)
{
	return ops >= crypto_pwhash_OPSLIMIT_MIN &&
	    ops <= crypto_pwhash_OPSLIMIT_SENSITIVE &&
	    mem >= crypto_pwhash_MEMLIMIT_MIN &&
	    mem <= crypto_pwhash_MEMLIMIT_SENSITIVE;
}

static int
keyfile_is_b64char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* check = BLAKE2b-256 of the len bytes at bin. */
static void
keyfile_check_compute(const uint8_t *bin, size_t len,
    uint8_t check[KF_CHECK_LEN])
{
	crypto_generichash(check, KF_CHECK_LEN, bin, len, NULL, 0);
}

/*
 * The Argon2id box key of a passphrase into key (KF_BOXKEY_LEN bytes).
 * KGE_NOMEM when Argon2 cannot get its memory.
 */
static int
keyfile_boxkey_derive(uint8_t *key, const char *passphrase,
    const uint8_t salt[KF_SALT_LEN], uint64_t ops, uint64_t mem)
{
	if (crypto_pwhash(key, KF_BOXKEY_LEN, passphrase, strlen(passphrase),
	    salt, ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return KGE_NOMEM;
	return KGE_OK;
}

/* Write all of buf to a new 0600 file; KGE_EXISTS or KGE_IO on failure. */
static int
keyfile_create(const char *path, const char *buf, size_t len)
{
	ssize_t	n;
	size_t	off = 0;
	int	fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return errno == EEXIST ? KGE_EXISTS : KGE_IO;
	if (fchmod(fd, 0600) == -1)	/* whatever the umask */
		goto fail;
	while (off < len) {
		n = write(fd, buf + off, len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	return KGE_OK;

 fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(path);
	errno = saved;
	return KGE_IO;
}

/* Write kp's secret key to a new file, sealed when passphrase is not NULL. */
int
keyfile_write(const char *path, const struct kg_keypair *kp,
    const char *passphrase, unsigned long long opslimit, size_t memlimit)
{
	uint8_t		*bin = NULL, *boxkey = NULL, *secret = NULL;
	char		*text = NULL;
	const char	*prefix;
	size_t		 binlen, textlen, textsize;
	int		 rc = KGE_NOMEM, saved;

	if (path == NULL || kp == NULL)
		return KGE_INVAL;
	if (passphrase != NULL && !keyfile_cost_ok(opslimit, memlimit))
		return KGE_INVAL;
	if (keyfile_sodium_init() == -1)
		return KGE_NOMEM;

	textsize = KF_PREFIX_LEN + KF_B64_CHARS(KF_BIN_MAX) + 2;
	if ((bin = sodium_malloc(KF_BIN_MAX)) == NULL ||
	    (text = sodium_malloc(textsize)) == NULL ||
	    (secret = sodium_malloc(KF_SECRET_LEN)) == NULL)
		goto fail;
	memcpy(secret, kp->sk, KF_SEED_LEN);	/* libsodium sk = seed || pk */
	memcpy(secret + KF_SEED_LEN, kp->pk, KG_PUBKEY_LEN);

	if (passphrase == NULL) {
		prefix = KF_PLAIN_PREFIX;
		binlen = KF_PLAIN_BIN_LEN;
		memcpy(bin, secret, KF_SECRET_LEN);
	} else {
		prefix = KF_SEALED_PREFIX;
		binlen = KF_SEALED_BIN_LEN;
		randombytes_buf(bin + KF_OFF_SALT, KF_SALT_LEN);
		keyfile_put_u64(bin + KF_OFF_OPS, opslimit);
		keyfile_put_u64(bin + KF_OFF_MEM, memlimit);
		randombytes_buf(bin + KF_OFF_NONCE, KF_NONCE_LEN);
		if ((boxkey = sodium_malloc(KF_BOXKEY_LEN)) == NULL)
			goto fail;
		if ((rc = keyfile_boxkey_derive(boxkey, passphrase,
		    bin + KF_OFF_SALT, opslimit, memlimit)) != KGE_OK)
			goto fail;
		if (crypto_secretbox_easy(bin + KF_OFF_BOX, secret,
		    KF_SECRET_LEN, bin + KF_OFF_NONCE, boxkey) != 0) {
			rc = KGE_INVAL;
			goto fail;
		}
	}
	keyfile_check_compute(bin, binlen - KF_CHECK_LEN,
	    bin + binlen - KF_CHECK_LEN);

	memcpy(text, prefix, KF_PREFIX_LEN);
	sodium_bin2base64(text + KF_PREFIX_LEN, textsize - KF_PREFIX_LEN,
	    bin, binlen, KF_VARIANT);
	textlen = KF_PREFIX_LEN + KF_B64_CHARS(binlen);
	text[textlen++] = '\n';
	rc = keyfile_create(path, text, textlen);

 fail:
	saved = errno;
	sodium_free(boxkey);
	sodium_free(secret);
	sodium_free(text);
	sodium_free(bin);
	errno = saved;
	return rc;
}

/*
 * Read the whole of an open key file into text (KF_TEXT_MAX + 1 bytes);
 * *len is its length. KGE_FILE_FORMAT when it is longer than KF_TEXT_MAX.
 */
static int
keyfile_slurp(int fd, char *text, size_t *len)
{
	if (text_fd_read(fd, text, KF_TEXT_MAX, len) == 0)
		return KGE_OK;
	return errno == EFBIG ? KGE_FILE_FORMAT : KGE_IO;
}

/*
 * Decode the text of a key file (line break already removed) into bin
 * (KF_BIN_MAX bytes): *sealed says which kind, *binlen the decoded length.
 * The length is judged from the characters, so a file cut anywhere is
 * KGE_FILE_TRUNCATED rather than a base64 error.
 */
static int
keyfile_decode(const char *text, size_t len, uint8_t *bin, size_t *binlen,
    int *sealed)
{
	const char	*b64, *end;
	size_t		 i, want, n, got;

	if (len < KF_PREFIX_LEN) {
		if (memcmp(text, KF_PLAIN_PREFIX, len) == 0 ||
		    memcmp(text, KF_SEALED_PREFIX, len) == 0)
			return KGE_FILE_TRUNCATED;
		return KGE_FILE_FORMAT;
	}
	if (memcmp(text, KF_PLAIN_PREFIX, KF_PREFIX_LEN) == 0) {
		*sealed = 0;
		want = KF_PLAIN_BIN_LEN;
	} else if (memcmp(text, KF_SEALED_PREFIX, KF_PREFIX_LEN) == 0) {
		*sealed = 1;
		want = KF_SEALED_BIN_LEN;
	} else
		return KGE_FILE_FORMAT;

	b64 = text + KF_PREFIX_LEN;
	n = len - KF_PREFIX_LEN;
	for (i = 0; i < n; i++)
		if (!keyfile_is_b64char(b64[i]))
			return KGE_FILE_FORMAT;
	if (n < KF_B64_CHARS(want))
		return KGE_FILE_TRUNCATED;
	if (n > KF_B64_CHARS(want))
		return KGE_FILE_FORMAT;
	if (sodium_base642bin(bin, KF_BIN_MAX, b64, n, NULL, &got, &end,
	    KF_VARIANT) != 0 || got != want || end != b64 + n)
		return KGE_FILE_FORMAT;
	*binlen = got;
	return KGE_OK;
}

/*
 * Open a sealed blob into secret (KF_SECRET_LEN bytes). The check has
 * already been verified.
 */
static int
keyfile_unseal(const uint8_t *bin, const char *passphrase, uint8_t *secret)
{
	uint8_t		*boxkey;
	uint64_t	 ops, mem;
	int		 rc;

	ops = keyfile_get_u64(bin + KF_OFF_OPS);
	mem = keyfile_get_u64(bin + KF_OFF_MEM);
	if (!keyfile_cost_ok(ops, mem))
		return KGE_FILE_FORMAT;
	if (passphrase == NULL)
		return KGE_PASSPHRASE_REQUIRED;
	if ((boxkey = sodium_malloc(KF_BOXKEY_LEN)) == NULL)
		return KGE_NOMEM;
	if ((rc = keyfile_boxkey_derive(boxkey, passphrase, bin + KF_OFF_SALT,
	    ops, mem)) != KGE_OK)
		goto done;
	if (crypto_secretbox_open_easy(secret, bin + KF_OFF_BOX, KF_BOX_LEN,
	    bin + KF_OFF_NONCE, boxkey) != 0)
		rc = KGE_PASSPHRASE;
 done:
	sodium_free(boxkey);
	return rc;
}

/* Load a secret key file (see keys.h for the order of the checks). */
int
keyfile_read(const char *path, const char *passphrase, struct kg_keypair **out)
{
	struct kg_keypair	*kp = NULL;
	struct stat		 st;
	uint8_t			 check[KF_CHECK_LEN];
	uint8_t			*bin = NULL, *secret = NULL;
	char			*text = NULL;
	size_t			 len = 0, binlen = 0;
	int			 fd = -1, sealed = 0, rc = KGE_NOMEM, saved;

	if (out == NULL)
		return KGE_INVAL;
	*out = NULL;
	if (path == NULL)
		return KGE_INVAL;
	if (keyfile_sodium_init() == -1)
		return KGE_NOMEM;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		rc = KGE_IO;
		goto fail;
	}
	if (fstat(fd, &st) == -1) {
		rc = KGE_IO;
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		rc = KGE_FILE_MODE;
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KF_TEXT_MAX) {
		rc = KGE_FILE_FORMAT;
		goto fail;
	}
	if ((text = sodium_malloc(KF_TEXT_MAX + 1)) == NULL ||
	    (bin = sodium_malloc(KF_BIN_MAX)) == NULL ||
	    (secret = sodium_malloc(KF_SECRET_LEN)) == NULL)
		goto fail;
	if ((rc = keyfile_slurp(fd, text, &len)) != KGE_OK)
		goto fail;
	close(fd);
	fd = -1;

	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len > 0 && text[len - 1] == '\r')
		len--;
	if ((rc = keyfile_decode(text, len, bin, &binlen, &sealed)) != KGE_OK)
		goto fail;

	keyfile_check_compute(bin, binlen - KF_CHECK_LEN, check);
	if (sodium_memcmp(check, bin + binlen - KF_CHECK_LEN,
	    KF_CHECK_LEN) != 0) {
		rc = KGE_FILE_CORRUPT;
		goto fail;
	}

	if (sealed) {
		if ((rc = keyfile_unseal(bin, passphrase, secret)) != KGE_OK)
			goto fail;
	} else
		memcpy(secret, bin, KF_SECRET_LEN);

	if ((kp = keypair_from_seed_new(secret)) == NULL) {
		rc = KGE_NOMEM;
		goto fail;
	}
	if (sodium_memcmp(kp->pk, secret + KF_SEED_LEN, KG_PUBKEY_LEN) != 0) {
		rc = KGE_PUBKEY_MISMATCH;
		goto fail;
	}
	sodium_free(secret);
	sodium_free(bin);
	sodium_free(text);
	*out = kp;
	return KGE_OK;

 fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	keypair_free(kp);
	sodium_free(secret);
	sodium_free(bin);
	sodium_free(text);
	errno = saved;
	return rc;
}

/*
 * Read the first line of a passphrase file (without "\n" or "\r\n") into
 * sodium_malloc'd memory. A line longer than KF_PASSPHRASE_MAX fails with
 * E2BIG and one holding a NUL byte with EINVAL; NULL with errno on failure.
 */
char *
passphrase_read_new(const char *path)
{
	char	*buf = NULL, *p = NULL, *nl = NULL;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd = -1, saved;

	if (path == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (keyfile_sodium_init() == -1) {
		errno = ENOMEM;
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if ((buf = sodium_malloc(KF_PASSPHRASE_MAX + 1)) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	while (nl == NULL && len <= KF_PASSPHRASE_MAX) {
		n = read(fd, buf + len, KF_PASSPHRASE_MAX + 1 - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	if (nl != NULL)
		len = (size_t)(nl - buf);
	else if (len > KF_PASSPHRASE_MAX) {
		errno = E2BIG;
		goto fail;
	}
	if (nl != NULL && len > 0 && buf[len - 1] == '\r')
		len--;
	if (memchr(buf, '\0', len) != NULL) {
		errno = EINVAL;
		goto fail;
	}
	if ((p = sodium_malloc(len + 1)) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	memcpy(p, buf, len);
	p[len] = '\0';
	close(fd);
	sodium_free(buf);
	return p;

 fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	sodium_free(buf);
	errno = saved;
	return NULL;
}

/* Wipe and free a passphrase from passphrase_read_new (NULL is fine). */
void
passphrase_free(char *p)
{
	sodium_free(p);
}
