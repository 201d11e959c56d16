/*
 * A protobuf-c allocator that hands out memory from a caller's buffer (on
 * the stack, typically) and falls back to malloc when the buffer is used up,
 * so that unpacking a small message costs no heap allocation at all. Frees
 * of memory from the buffer are no-ops; the buffer is given back whole when
 * the caller is done with the message. An optional budget bounds the bytes
 * handed out in all (buffer and heap together): what would pass it gets NULL,
 * which protobuf-c reports as a failed unpack.
 *
 *	uint8_t		 buf[PB_ARENA_SMALL];
 *	struct pb_arena	 a;
 *
 *	pb_arena_init(&a, buf, sizeof(buf), SIZE_MAX);
 *	m = protobuf_c_message_unpack(desc, &a.alloc, len, data);
 *	...
 *	pb_arena_release(&a);
 *
 * pb_arena_release frees every heap block the arena still holds, so a
 * message unpacked through it needs no protobuf_c_message_free_unpacked,
 * which would walk the whole message to free nothing. a, and buf, must
 * outlive every message unpacked through a.alloc.
 */
#ifndef KG_PBARENA_H
#define KG_PBARENA_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define PB_ARENA_SMALL	1024	/* enough for a license payload or a request */
#define PB_ARENA_BLOCK_HEADER	32	/* a heap block's bytes beyond its size, at most */

struct pb_arena_spill;

struct pb_arena {
	ProtobufCAllocator	 alloc;		/* pass &a->alloc to protobuf-c */
	struct pb_arena_spill	*spill;		/* heap blocks, newest first */
	size_t			 nspill;	/* how many */
	uint8_t			*buf;
	size_t			 cap;
	size_t			 used;		/* bytes of buf handed out */
	size_t			 left;		/* budget left (SIZE_MAX: none) */
	size_t			 total;		/* bytes handed out in all */
};

/* Set a up over the cap bytes at buf with budget bytes to hand out. */
void	pb_arena_init(struct pb_arena *a, void *buf, size_t cap, size_t budget);

/*
 * Free the heap blocks a still holds and empty its buffer: every message
 * unpacked through a is gone. a may be used again (with what is left of its
 * budget).
 */
void	pb_arena_release(struct pb_arena *a);

#endif
