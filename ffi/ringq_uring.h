/* ringq_uring.h: the layout shared by the C shim and src/io/uring-abi.ts (its mirror).
 * user_data packing, command record layout, completion quads, region ids, probe stages.
 * Nothing here allocates or calls the kernel; change a value here and in uring-abi.ts together. */
#ifndef RINGQ_URING_H
#define RINGQ_URING_H

#include <stdint.h>

/* user_data is 32 bits (JS reads int32, never BigInt): op:4 | gen:14 | slot:14.
 * The generation lets JS drop a completion that belongs to a recycled connection slot. */
#define RINGQ_UD_SLOT_BITS 14
#define RINGQ_UD_GEN_BITS 14
#define RINGQ_UD_SLOT_MASK ((1u << RINGQ_UD_SLOT_BITS) - 1u)
#define RINGQ_UD_GEN_MASK ((1u << RINGQ_UD_GEN_BITS) - 1u)
#define RINGQ_UD_OP(ud) ((uint32_t)(ud) >> (RINGQ_UD_SLOT_BITS + RINGQ_UD_GEN_BITS))
#define RINGQ_UD_GEN(ud) (((uint32_t)(ud) >> RINGQ_UD_SLOT_BITS) & RINGQ_UD_GEN_MASK)
#define RINGQ_UD_SLOT(ud) ((uint32_t)(ud) & RINGQ_UD_SLOT_MASK)
#define RINGQ_UD(op, gen, slot)                                                  \
  (((uint32_t)(op) << (RINGQ_UD_SLOT_BITS + RINGQ_UD_GEN_BITS)) |                \
   (((uint32_t)(gen) & RINGQ_UD_GEN_MASK) << RINGQ_UD_SLOT_BITS) |              \
   ((uint32_t)(slot) & RINGQ_UD_SLOT_MASK))

/* Operations named in user_data (what a completion is). */
enum {
  RINGQ_OP_ACCEPT = 1, /* multishot accept on a listener */
  RINGQ_OP_RECV = 2,   /* multishot recv, provided buffers */
  RINGQ_OP_SEND = 3,   /* one send from the send arena */
  RINGQ_OP_CANCEL = 4, /* cancel-all-by-fd (first half of a close) */
  RINGQ_OP_CLOSE = 5,  /* close(fd) (second half of a close) */
  RINGQ_OP_POLL = 6,   /* multishot poll on Bun's epoll fd: "Bun has work" */
  RINGQ_OP_IGNORE = 7, /* nobody waits for this completion */
};

/* Command records written by JS: RINGQ_CMD_INTS int32 each: [cmd, fd, ud, a, b]. */
#define RINGQ_CMD_INTS 5
enum {
  RINGQ_CMD_ACCEPT = 1,  /* fd = listener */
  RINGQ_CMD_RECV = 2,    /* fd = connection */
  RINGQ_CMD_SEND = 3,    /* a = offset in the send arena, b = length */
  RINGQ_CMD_RECYCLE = 4, /* a = buffer id given back to the buffer ring */
  RINGQ_CMD_CLOSE = 5,   /* ud = cancel's user_data, a = close's user_data */
  RINGQ_CMD_CANCEL = 6,  /* cancel every request on fd */
  RINGQ_CMD_POLL = 7,    /* multishot POLLIN on fd */
  RINGQ_CMD_SENDV = 8,   /* a = first pair in RINGQ_REGION_IOVS, b = pairs (1..RINGQ_SEND_IOVS) */
};

/* One SENDV gathers a connection's chunks that are not next to each other in the send arena:
 * at most this many [offset, length] pairs (int32 each, in RINGQ_REGION_IOVS). */
#define RINGQ_SEND_IOVS 16

/* ringq_create's out array: [stage, mode, errno, doorbell pipe fd, file-table errno (0: the
 * table registered, accepted connections are direct descriptors)]. */
#define RINGQ_CREATE_OUT_INTS 5

/* Completions copied out by ringq_run: RINGQ_CQE_INTS int32 each: [ud, res, flags, 0]. */
#define RINGQ_CQE_INTS 4

/* Regions of C memory JS wraps once with toArrayBuffer. */
enum {
  RINGQ_REGION_CMDS = 0,
  RINGQ_REGION_CQES = 1,
  RINGQ_REGION_RECV = 2,
  RINGQ_REGION_SEND = 3,
  RINGQ_REGION_STATS = 4,
  RINGQ_REGION_IOVS = 5, /* SENDV pairs, as many pairs as there are command records */
};

/* Stats (doubles in RINGQ_REGION_STATS). */
enum {
  RINGQ_STAT_ENTERS = 0, /* io_uring_enter calls made by the shim */
  RINGQ_STAT_SQES = 1,
  RINGQ_STAT_CQES = 2,
  RINGQ_STAT_RUNS = 3,
  RINGQ_STAT_SENDVS = 4, /* gathering sends (SENDV): a connection's output was apart in the arena */
  RINGQ_STAT_COUNT = 8,
};

/* Ring modes, best first. */
enum {
  RINGQ_MODE_DEFER = 1, /* SINGLE_ISSUER|DEFER_TASKRUN */
  RINGQ_MODE_COOP = 2,  /* COOP_TASKRUN|TASKRUN_FLAG */
};

/* Where a probe or create failed (out[0]); out[2] holds the errno. */
enum {
  RINGQ_STAGE_OK = 0,
  RINGQ_STAGE_SETUP = 1,     /* io_uring_setup failed for every flag set */
  RINGQ_STAGE_EXT_ARG = 2,   /* kernel lacks IORING_FEAT_EXT_ARG */
  RINGQ_STAGE_OPCODES = 3,   /* accept/recv/send/cancel/close/poll not all supported */
  RINGQ_STAGE_BUF_RING = 4,  /* io_uring_register_buf_ring failed */
  RINGQ_STAGE_MEMORY = 5,    /* mmap/malloc failed */
  RINGQ_STAGE_SELFTEST = 6,  /* loopback accept/recv/send through the ring failed */
  RINGQ_STAGE_TIMEOUT = 7,   /* loopback self-test did not finish within its bound */
  RINGQ_STAGE_NOTIFY = 8,    /* eventfd / pipe / relay thread for idle wake-ups failed */
};

#endif
