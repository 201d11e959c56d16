/*
 * Unit tests of the protobuf-c arena allocator (common/pbarena.c): small
 * blocks come from the caller's buffer, larger ones from the heap, aligned
 * either way; a heap block freed on its own (as protobuf-c does when an
 * unpack fails) leaves the others held; pb_arena_release frees every heap
 * block and empties the buffer, so a message unpacked through the arena
 * needs no free_unpacked (the sanitizer build reports any leak or double
 * free); the budget is kept across a release.
 */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keygate.pb-c.h"
#include "pbarena.h"

#define ALIGN	alignof(max_align_t)

static bool
in_buf(const struct pb_arena *a, const void *p)
{
	return (const uint8_t *)p >= a->buf && (const uint8_t *)p < a->buf + a->cap;
}

static void
test_buffer_then_heap(void **state)
{
	uint8_t		 buf[256];
	struct pb_arena	 a;
	void		*p[5];
	size_t		 i;

	(void)state;
	pb_arena_init(&a, buf, sizeof(buf), SIZE_MAX);
	p[0] = a.alloc.alloc(a.alloc.allocator_data, 40);
	p[1] = a.alloc.alloc(a.alloc.allocator_data, 1000);
	p[2] = a.alloc.alloc(a.alloc.allocator_data, 2000);
	p[3] = a.alloc.alloc(a.alloc.allocator_data, 3000);
	p[4] = a.alloc.alloc(a.alloc.allocator_data, 8);
	for (i = 0; i < 5; i++) {
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % ALIGN, 0);
	}
	assert_true(in_buf(&a, p[0]));
	assert_false(in_buf(&a, p[1]));
	assert_true(in_buf(&a, p[4]));
	memset(p[1], 1, 1000);
	memset(p[2], 2, 2000);
	memset(p[3], 3, 3000);
	assert_int_equal(a.nspill, 3);
	/* One heap block freed on its own (the middle one), then the rest. */
	a.alloc.free(a.alloc.allocator_data, p[2]);
	assert_int_equal(a.nspill, 2);
	a.alloc.free(a.alloc.allocator_data, p[0]);	/* the buffer's: a no-op */
	pb_arena_release(&a);
	assert_null(a.spill);
	assert_int_equal(a.nspill, 0);
	assert_int_equal(a.used, 0);
	/* Used again after a release: the buffer first. */
	p[0] = a.alloc.alloc(a.alloc.allocator_data, 16);
	assert_true(in_buf(&a, p[0]));
	pb_arena_release(&a);
}

static void
test_budget_kept(void **state)
{
	uint8_t		 buf[64];
	struct pb_arena	 a;

	(void)state;
	pb_arena_init(&a, buf, sizeof(buf), 1000);
	assert_non_null(a.alloc.alloc(a.alloc.allocator_data, 600));
	pb_arena_release(&a);
	assert_null(a.alloc.alloc(a.alloc.allocator_data, 600));
	assert_non_null(a.alloc.alloc(a.alloc.allocator_data, 300));
	pb_arena_release(&a);
}

/* A message bigger than the buffer, unpacked and released without free_unpacked. */
static void
test_unpack_release(void **state)
{
	Keygate__Request	 r = KEYGATE__REQUEST__INIT;
	Keygate__CheckRequest	 c = KEYGATE__CHECK_REQUEST__INIT;
	Keygate__Request	*m;
	char			 key[3000];
	uint8_t			 nonce[16], packed[4096], buf[128];
	struct pb_arena		 a;
	size_t			 len;

	(void)state;
	memset(key, 'K', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	memset(nonce, 9, sizeof(nonce));
	r.protocol = 1;
	r.nonce.data = nonce;
	r.nonce.len = sizeof(nonce);
	c.key = key;
	c.product = "PROD";
	c.version = "1.0";
	r.body_case = KEYGATE__REQUEST__BODY_CHECK;
	r.check = &c;
	len = keygate__request__pack(&r, packed);
	assert_true(len <= sizeof(packed));
	pb_arena_init(&a, buf, sizeof(buf), SIZE_MAX);
	m = keygate__request__unpack(&a.alloc, len, packed);
	assert_non_null(m);
	assert_int_equal(strlen(m->check->key), sizeof(key) - 1);
	assert_string_equal(m->check->product, "PROD");
	assert_true(a.nspill > 0);
	pb_arena_release(&a);	/* ASan: nothing leaks */
	assert_null(a.spill);
	/* A truncated one fails, and protobuf-c's own frees leave no block. */
	m = keygate__request__unpack(&a.alloc, len - 100, packed);
	assert_null(m);
	assert_int_equal(a.nspill, 0);
	pb_arena_release(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffer_then_heap),
		cmocka_unit_test(test_budget_kept),
		cmocka_unit_test(test_unpack_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
