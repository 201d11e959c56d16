/*
 * protobuf-c allocations from a caller's buffer, then the heap: see
 * pbarena.h.
 */
#include <stdalign.h>
#include <stdlib.h>

#include "pbarena.h"

#define PB_ARENA_ALIGN	alignof(max_align_t)

static void *
pb_arena_alloc(void *data, size_t size)
{
	struct pb_arena	*a = data;
	size_t		 need;

	if (size > a->left)
		return NULL;
	need = (size + PB_ARENA_ALIGN - 1) & ~(PB_ARENA_ALIGN - 1);
	a->left -= size;
	a->total += size;
	if (need >= size && need <= a->cap - a->used) {
		void	*p = a->buf + a->used;

		a->used += need;
		return p;
	}
	return malloc(size == 0 ? 1 : size);
}

static void
pb_arena_free(void *data, void *p)
{
	struct pb_arena	*a = data;
	uintptr_t	 u = (uintptr_t)p, lo = (uintptr_t)a->buf;

	if (p == NULL || (u >= lo && u < lo + a->cap))
		return;
	free(p);
}

/* Set up an arena: see pbarena.h. */
void
pb_arena_init(struct pb_arena *a, void *buf, size_t cap, size_t budget)
{
	uintptr_t	u = (uintptr_t)buf;
	size_t		skip = (PB_ARENA_ALIGN - u % PB_ARENA_ALIGN) % PB_ARENA_ALIGN;

	a->alloc.alloc = pb_arena_alloc;
	a->alloc.free = pb_arena_free;
	a->alloc.allocator_data = a;
	a->buf = (uint8_t *)buf + (skip < cap ? skip : cap);
	a->cap = skip < cap ? cap - skip : 0;
	a->used = 0;
	a->left = budget;
	a->total = 0;
}
