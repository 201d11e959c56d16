/*
 * protobuf-c allocations from a caller's buffer, then the heap: see
 * pbarena.h.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pbarena.h"

#define PB_ARENA_ALIGN	alignof(max_align_t)

/* The header of a heap block, keeping the block's alignment. */
struct pb_arena_spill {
	union {
		struct {
			struct pb_arena_spill	*prev, *next;
		};
		max_align_t	 align;
	};
};

_Static_assert(sizeof(struct pb_arena_spill) <= PB_ARENA_BLOCK_HEADER,
    "PB_ARENA_BLOCK_HEADER must cover a heap block's header");

static void *
pb_arena_alloc(void *data, size_t size)
{
	struct pb_arena		*a = data;
	struct pb_arena_spill	*sp;
	size_t			 need;

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
	if (size > SIZE_MAX - sizeof(struct pb_arena_spill) ||
	    (sp = malloc(sizeof(*sp) + size)) == NULL)
		return NULL;
	sp->prev = NULL;
	sp->next = a->spill;
	if (a->spill != NULL)
		a->spill->prev = sp;
	a->spill = sp;
	a->nspill++;
	return sp + 1;
}

static void
pb_arena_free(void *data, void *p)
{
	struct pb_arena		*a = data;
	struct pb_arena_spill	*sp;
	uintptr_t		 u = (uintptr_t)p, lo = (uintptr_t)a->buf;

	if (p == NULL || (u >= lo && u < lo + a->cap))
		return;
	sp = (struct pb_arena_spill *)p - 1;
	if (sp->prev != NULL)
		sp->prev->next = sp->next;
	else
		a->spill = sp->next;
	if (sp->next != NULL)
		sp->next->prev = sp->prev;
	a->nspill--;
	free(sp);
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
	a->spill = NULL;
	a->nspill = 0;
	a->buf = (uint8_t *)buf + (skip < cap ? skip : cap);
	a->cap = skip < cap ? cap - skip : 0;
	a->used = 0;
	a->left = budget;
	a->total = 0;
}

/* Free the heap blocks, empty the buffer: see pbarena.h. */
void
pb_arena_release(struct pb_arena *a)
{
	struct pb_arena_spill	*sp;

	while ((sp = a->spill) != NULL) {
		a->spill = sp->next;
		free(sp);
	}
	a->nspill = 0;
	a->used = 0;
}
