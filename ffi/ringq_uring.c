/* ringq_uring.c: the io_uring shim under src/io/uring.ts. One FFI call per loop turn
 * (ringq_run): JS-written command records become SQEs, one io_uring_enter submits and waits,
 * completions are copied out as int32 quads. All kernel-visible memory lives here.
 * It deliberately knows nothing about connections' state, frames or back-pressure (JS does),
 * and never calls back into JS: the only thread it starts is a doorbell relay (see below). */
#define _GNU_SOURCE
#include "ringq_uring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RINGQ_EXPORT __attribute__((visibility("default")))
#define RINGQ_BGID 0

/* Per connection slot: the msghdr and iovecs of its SENDV (one send in flight per slot). */
struct ringq_sendmsg {
  struct msghdr msg;
  struct iovec iov[RINGQ_SEND_IOVS];
};

typedef struct ringq_ctx {
  struct io_uring ring;
  int mode;
  struct io_uring_buf_ring *br;
  size_t br_bytes;
  unsigned br_entries;
  uint8_t *recv;
  size_t recv_bytes;
  unsigned buf_bytes;
  unsigned buf_count;
  uint8_t *send;
  size_t send_bytes;
  int32_t *cmds;
  unsigned cmd_cap;
  int32_t *cqes;
  unsigned cqe_cap;
  /* SENDV: JS writes [offset, length] pairs here (cmd_cap of them); each becomes an iovec in the
   * slot's own msghdr, which stays put while that slot's one send is in flight. */
  int32_t *iov_pairs;
  struct ringq_sendmsg *sendmsgs;
  size_t sendmsgs_bytes;
  /* Accepted connections are direct descriptors in a registered file table of this size
   * (0: plain fds). Every RECV/SEND/CLOSE on them then skips the kernel's fd lookup. */
  unsigned fixed_files;
  double stats[RINGQ_STAT_COUNT];
  /* Idle doorbell: the ring signals evfd (when enabled); the relay thread turns that into a
   * byte on a pipe whose read end Bun polls, because Bun can poll a pipe but not an eventfd. */
  int evfd, pipe_r, pipe_w;
  int relay_started;
  atomic_int relay_stop;
  pthread_t relay;
} ringq_ctx;

static void *map_bytes(size_t bytes) {
  /* NORESERVE: the send arena and recv buffers cost memory only for pages actually touched. */
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void unmap_bytes(void *p, size_t bytes) {
  if (p) munmap(p, bytes);
}

static int ring_init(struct io_uring *ring, unsigned sq, unsigned cq, int *mode) {
  /* Best flags first. Without one of these two sets a ring was measured slower than
   * Bun.listen, so there is no third, flagless tier: the caller falls back to Bun sockets. */
  static const unsigned tiers[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
  };
  int err = -EINVAL;
  for (unsigned i = 0; i < sizeof tiers / sizeof tiers[0]; i++) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = tiers[i] | IORING_SETUP_CQSIZE;
    p.cq_entries = cq;
    err = io_uring_queue_init_params(sq, ring, &p);
    if (err == 0) {
      *mode = i == 0 ? RINGQ_MODE_DEFER : RINGQ_MODE_COOP;
      if (!(p.features & IORING_FEAT_EXT_ARG)) {
        io_uring_queue_exit(ring);
        return -ENOTSUP; /* reported as the EXT_ARG stage */
      }
      return 0;
    }
    /* EPERM/ENOSYS/ENOMEM will not improve with weaker flags; EINVAL might. */
    if (err != -EINVAL) return err;
  }
  return err;
}

static int check_opcodes(struct io_uring *ring) {
  struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
  if (!probe) return -ENOMEM;
  static const int ops[] = {IORING_OP_ACCEPT, IORING_OP_RECV,       IORING_OP_SEND,
                            IORING_OP_CLOSE,  IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD};
  int ok = 1;
  for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++)
    ok = ok && io_uring_opcode_supported(probe, ops[i]);
  io_uring_free_probe(probe);
  return ok ? 0 : -EOPNOTSUPP;
}

static void *relay_main(void *arg) {
  ringq_ctx *c = arg;
  for (;;) {
    uint64_t v;
    ssize_t r = read(c->evfd, &v, sizeof v);
    if (atomic_load(&c->relay_stop)) break;
    if (r < 0 && errno != EINTR && errno != EAGAIN) break;
    if (r == (ssize_t)sizeof v) {
      char b = 1;
      /* A full pipe already holds a pending wake-up; losing this byte loses nothing. */
      if (write(c->pipe_w, &b, 1) < 0 && errno != EAGAIN) break;
    }
  }
  return NULL;
}

static int notify_start(ringq_ctx *c) {
  c->evfd = eventfd(0, EFD_CLOEXEC); /* blocking: the relay thread sleeps in read() */
  if (c->evfd < 0) return -errno;
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
  c->pipe_r = p[0];
  c->pipe_w = p[1];
  int err = io_uring_register_eventfd(&c->ring, c->evfd);
  if (err < 0) return err;
  /* Off while JS is inside a turn: busy loops must not pay a thread wake-up per completion. */
  io_uring_cq_eventfd_toggle(&c->ring, false);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  sigset_t all, old;
  sigfillset(&all);
  /* The relay must never take a signal meant for Bun's threads. */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  err = pthread_create(&c->relay, &attr, relay_main, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (err) return -err;
  c->relay_started = 1;
  return 0;
}

RINGQ_EXPORT void ringq_destroy(ringq_ctx *c);

static ringq_ctx *ctx_create(unsigned sq, unsigned cq, unsigned buf_count, unsigned buf_bytes,
                             unsigned send_bytes, unsigned cmd_cap, unsigned cqe_cap,
                             unsigned fixed_files, int with_notify, int32_t *out) {
  out[0] = RINGQ_STAGE_MEMORY;
  out[1] = 0;
  out[2] = ENOMEM;
  out[3] = -1;
  out[4] = 0;
  ringq_ctx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->evfd = c->pipe_r = c->pipe_w = -1;
  c->ring.ring_fd = -1;
  int err = ring_init(&c->ring, sq, cq, &c->mode);
  if (err < 0) {
    out[0] = err == -ENOTSUP ? RINGQ_STAGE_EXT_ARG : RINGQ_STAGE_SETUP;
    out[2] = -err;
    c->ring.ring_fd = -1;
    ringq_destroy(c);
    return NULL;
  }
  out[1] = c->mode;
  err = check_opcodes(&c->ring);
  if (err < 0) {
    out[0] = RINGQ_STAGE_OPCODES;
    out[2] = -err;
    ringq_destroy(c);
    return NULL;
  }
  c->buf_count = buf_count;
  c->buf_bytes = buf_bytes;
  c->br_entries = buf_count; /* a power of two, asserted in constants.ts */
  c->br_bytes = (size_t)buf_count * sizeof(struct io_uring_buf);
  c->recv_bytes = (size_t)buf_count * buf_bytes;
  c->send_bytes = send_bytes;
  c->cmd_cap = cmd_cap;
  c->cqe_cap = cqe_cap;
  /* liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves (page aligned). */
  c->br = map_bytes(c->br_bytes);
  c->recv = map_bytes(c->recv_bytes);
  c->send = map_bytes(c->send_bytes);
  c->cmds = calloc((size_t)cmd_cap * RINGQ_CMD_INTS, sizeof(int32_t));
  c->cqes = calloc((size_t)cqe_cap * RINGQ_CQE_INTS, sizeof(int32_t));
  c->iov_pairs = calloc((size_t)cmd_cap * 2, sizeof(int32_t));
  /* NORESERVE like the arena: only the slots that ever gather a send touch their pages. */
  c->sendmsgs_bytes = (size_t)(RINGQ_UD_SLOT_MASK + 1) * sizeof(struct ringq_sendmsg);
  c->sendmsgs = map_bytes(c->sendmsgs_bytes);
  if (!c->br || !c->recv || !c->send || !c->cmds || !c->cqes || !c->iov_pairs || !c->sendmsgs) {
    ringq_destroy(c);
    return NULL;
  }
  io_uring_buf_ring_init(c->br);
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)c->br;
  reg.ring_entries = c->br_entries;
  reg.bgid = RINGQ_BGID;
  err = io_uring_register_buf_ring(&c->ring, &reg, 0);
  if (err < 0) {
    out[0] = RINGQ_STAGE_BUF_RING;
    out[2] = -err;
    ringq_destroy(c);
    return NULL;
  }
  int mask = io_uring_buf_ring_mask(c->br_entries);
  for (unsigned i = 0; i < buf_count; i++)
    io_uring_buf_ring_add(c->br, c->recv + (size_t)i * buf_bytes, buf_bytes, (unsigned short)i,
                          mask, (int)i);
  io_uring_buf_ring_advance(c->br, (int)buf_count);
  if (fixed_files > 0) {
    /* Not fatal: without the table the ring serves plain fds (the reason goes to out[4]). */
    err = io_uring_register_files_sparse(&c->ring, fixed_files);
    if (err < 0) out[4] = -err;
    else c->fixed_files = fixed_files;
  }
  if (with_notify) {
    err = notify_start(c);
    if (err < 0) {
      out[0] = RINGQ_STAGE_NOTIFY;
      out[2] = -err;
      ringq_destroy(c);
      return NULL;
    }
    out[3] = c->pipe_r;
  }
  out[0] = RINGQ_STAGE_OK;
  out[2] = 0;
  return c;
}

RINGQ_EXPORT ringq_ctx *ringq_create(int sq, int cq, int buf_count, int buf_bytes,
                                     int send_bytes, int cmd_cap, int cqe_cap, int fixed_files,
                                     int32_t *out) {
  return ctx_create((unsigned)sq, (unsigned)cq, (unsigned)buf_count, (unsigned)buf_bytes,
                    (unsigned)send_bytes, (unsigned)cmd_cap, (unsigned)cqe_cap,
                    fixed_files > 0 ? (unsigned)fixed_files : 0, 1, out);
}

RINGQ_EXPORT void ringq_destroy(ringq_ctx *c) {
  if (!c) return;
  if (c->relay_started) {
    atomic_store(&c->relay_stop, 1);
    uint64_t one = 1;
    if (write(c->evfd, &one, sizeof one) < 0) { /* the thread exits on its next read anyway */
    }
    pthread_join(c->relay, NULL);
  }
  /* queue_exit cancels whatever is still in flight and drops the ring's file references. */
  if (c->ring.ring_fd >= 0) io_uring_queue_exit(&c->ring);
  if (c->evfd >= 0) close(c->evfd);
  if (c->pipe_w >= 0) close(c->pipe_w); /* EOF ends JS's doorbell stream */
  if (c->pipe_r >= 0) close(c->pipe_r);
  unmap_bytes(c->br, c->br_bytes);
  unmap_bytes(c->recv, c->recv_bytes);
  unmap_bytes(c->send, c->send_bytes);
  unmap_bytes(c->sendmsgs, c->sendmsgs_bytes);
  free(c->cmds);
  free(c->cqes);
  free(c->iov_pairs);
  free(c);
}

RINGQ_EXPORT void *ringq_region(ringq_ctx *c, int id) {
  switch (id) {
  case RINGQ_REGION_CMDS: return c->cmds;
  case RINGQ_REGION_CQES: return c->cqes;
  case RINGQ_REGION_RECV: return c->recv;
  case RINGQ_REGION_SEND: return c->send;
  case RINGQ_REGION_STATS: return c->stats;
  case RINGQ_REGION_IOVS: return c->iov_pairs;
  default: return NULL;
  }
}

RINGQ_EXPORT int ringq_region_bytes(ringq_ctx *c, int id) {
  switch (id) {
  case RINGQ_REGION_CMDS: return (int)(c->cmd_cap * RINGQ_CMD_INTS * sizeof(int32_t));
  case RINGQ_REGION_CQES: return (int)(c->cqe_cap * RINGQ_CQE_INTS * sizeof(int32_t));
  case RINGQ_REGION_RECV: return (int)c->recv_bytes;
  case RINGQ_REGION_SEND: return (int)c->send_bytes;
  case RINGQ_REGION_STATS: return (int)sizeof c->stats;
  case RINGQ_REGION_IOVS: return (int)(c->cmd_cap * 2 * sizeof(int32_t));
  default: return 0;
  }
}

/* Copies src[src_off, src_off + n) (src is src_len bytes) into the send arena at dst. JS writes
   replies through this rather than holding the arena as an ArrayBuffer: JSC counts a buffer's
   whole length as heap, and 64 MiB of NORESERVE address space made its collector let that much
   more garbage pile up before it ran (the io_uring server's RSS after a push burst). */
RINGQ_EXPORT int ringq_send_copy(ringq_ctx *c, int dst, const uint8_t *src, int src_len, int src_off, int n) {
  if (dst < 0 || n < 0 || src_off < 0 || src_len < 0 || (size_t)dst + (size_t)n > c->send_bytes ||
      (long)src_off + (long)n > (long)src_len)
    return -EINVAL;
  memcpy(c->send + dst, src + src_off, (size_t)n);
  return 0;
}

RINGQ_EXPORT int ringq_mode(ringq_ctx *c) { return c->mode; }

/* While idle (JS has handed the thread back to Bun) the ring rings the doorbell. */
RINGQ_EXPORT void ringq_set_notify(ringq_ctx *c, int on) {
  io_uring_cq_eventfd_toggle(&c->ring, on != 0);
}

static struct io_uring_sqe *get_sqe(ringq_ctx *c, unsigned need) {
  /* A close is two linked SQEs; they must land in the same submission. */
  if (io_uring_sq_space_left(&c->ring) < need) {
    c->stats[RINGQ_STAT_ENTERS]++;
    if (io_uring_submit(&c->ring) < 0) return NULL;
  }
  return io_uring_get_sqe(&c->ring);
}

static int apply_cmds(ringq_ctx *c, int ncmd) {
  int recycled = 0;
  int mask = io_uring_buf_ring_mask(c->br_entries);
  if (ncmd < 0 || (unsigned)ncmd > c->cmd_cap) return -EINVAL;
  for (int i = 0; i < ncmd; i++) {
    const int32_t *r = c->cmds + (size_t)i * RINGQ_CMD_INTS;
    int fd = r[1];
    uint64_t ud = (uint32_t)r[2];
    struct io_uring_sqe *sqe;
    if (r[0] == RINGQ_CMD_RECYCLE) {
      unsigned bid = (unsigned)r[3];
      if (bid >= c->buf_count) return -EINVAL;
      io_uring_buf_ring_add(c->br, c->recv + (size_t)bid * c->buf_bytes, c->buf_bytes,
                            (unsigned short)bid, mask, recycled++);
      continue;
    }
    sqe = get_sqe(c, r[0] == RINGQ_CMD_CLOSE ? 2 : 1);
    if (!sqe) return -EBUSY;
    switch (r[0]) {
    case RINGQ_CMD_ACCEPT:
      /* The listener is a plain fd either way; a direct accept's result is a table index.
       * (A direct descriptor has no fd to be inherited, so no SOCK_CLOEXEC: the kernel
       * refuses it.) */
      if (c->fixed_files) io_uring_prep_multishot_accept_direct(sqe, fd, NULL, NULL, 0);
      else io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
      break;
    case RINGQ_CMD_RECV:
      io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT | (c->fixed_files ? IOSQE_FIXED_FILE : 0);
      sqe->buf_group = RINGQ_BGID;
      break;
    case RINGQ_CMD_SEND:
      if (r[3] < 0 || r[4] <= 0 || (size_t)r[3] + (size_t)r[4] > c->send_bytes) return -EINVAL;
      io_uring_prep_send(sqe, fd, c->send + r[3], (size_t)r[4], MSG_NOSIGNAL);
      if (c->fixed_files) sqe->flags |= IOSQE_FIXED_FILE;
      break;
    case RINGQ_CMD_SENDV: {
      unsigned first = (unsigned)r[3], n = (unsigned)r[4];
      if (r[3] < 0 || r[4] <= 0 || n > RINGQ_SEND_IOVS || first > c->cmd_cap ||
          n > c->cmd_cap - first)
        return -EINVAL;
      struct ringq_sendmsg *m = &c->sendmsgs[RINGQ_UD_SLOT(ud)];
      for (unsigned k = 0; k < n; k++) {
        int32_t off = c->iov_pairs[2 * (first + k)], len = c->iov_pairs[2 * (first + k) + 1];
        if (off < 0 || len <= 0 || (size_t)off + (size_t)len > c->send_bytes) return -EINVAL;
        m->iov[k].iov_base = c->send + off;
        m->iov[k].iov_len = (size_t)len;
      }
      memset(&m->msg, 0, sizeof m->msg);
      m->msg.msg_iov = m->iov;
      m->msg.msg_iovlen = n;
      io_uring_prep_sendmsg(sqe, fd, &m->msg, MSG_NOSIGNAL);
      if (c->fixed_files) sqe->flags |= IOSQE_FIXED_FILE;
      c->stats[RINGQ_STAT_SENDVS]++;
      break;
    }
    case RINGQ_CMD_CLOSE:
      /* Cancel first, then close. HARDLINK: the close must run even when the cancel finds
       * nothing (-ENOENT), which would break a plain link. */
      io_uring_prep_cancel_fd(sqe, fd,
                              IORING_ASYNC_CANCEL_ALL |
                                  (c->fixed_files ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
      sqe->flags |= IOSQE_IO_HARDLINK;
      io_uring_sqe_set_data64(sqe, ud);
      sqe = io_uring_get_sqe(&c->ring);
      if (c->fixed_files) io_uring_prep_close_direct(sqe, (unsigned)fd);
      else io_uring_prep_close(sqe, fd);
      ud = (uint32_t)r[3];
      break;
    case RINGQ_CMD_CANCEL:
      io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
      break;
    case RINGQ_CMD_POLL:
      io_uring_prep_poll_multishot(sqe, fd, POLLIN);
      break;
    default:
      return -EINVAL;
    }
    io_uring_sqe_set_data64(sqe, ud);
    c->stats[RINGQ_STAT_SQES] += r[0] == RINGQ_CMD_CLOSE ? 2 : 1;
  }
  if (recycled) io_uring_buf_ring_advance(c->br, recycled);
  return 0;
}

static int reap(ringq_ctx *c) {
  unsigned head, n = 0;
  struct io_uring_cqe *cqe;
  io_uring_for_each_cqe(&c->ring, head, cqe) {
    if (n == c->cqe_cap) break; /* the rest stays in the CQ for the next run */
    uint32_t ud = (uint32_t)cqe->user_data;
    int32_t *q = c->cqes + (size_t)n * RINGQ_CQE_INTS;
    q[0] = (int32_t)ud;
    q[1] = cqe->res;
    q[2] = (int32_t)cqe->flags;
    q[3] = 0;
    if (RINGQ_UD_OP(ud) == RINGQ_OP_ACCEPT && cqe->res >= 0 && !c->fixed_files) {
      /* Replies are small and pipelined: Nagle would hold them for the peer's delayed ACK.
       * (Set on the listener too, which a direct descriptor inherits it from.) */
      int one = 1;
      setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    n++;
  }
  io_uring_cq_advance(&c->ring, n);
  c->stats[RINGQ_STAT_CQES] += n;
  return (int)n;
}

/* Submit commands only (the command buffer filled up mid-turn); completions wait for run. */
RINGQ_EXPORT int ringq_submit(ringq_ctx *c, int ncmd) {
  int err = apply_cmds(c, ncmd);
  if (err < 0) return err;
  c->stats[RINGQ_STAT_ENTERS]++;
  err = io_uring_submit(&c->ring);
  return err < 0 ? err : 0;
}

/* The loop's one kernel crossing: apply ncmd commands, submit, wait for wait_nr completions
 * or timeout_us (EXT_ARG, same enter), copy completions out. Returns how many, or -errno. */
RINGQ_EXPORT int ringq_run(ringq_ctx *c, int ncmd, int wait_nr, int timeout_us) {
  int err = apply_cmds(c, ncmd);
  if (err < 0) return err;
  c->stats[RINGQ_STAT_RUNS]++;
  c->stats[RINGQ_STAT_ENTERS]++;
  if (wait_nr > 0 && timeout_us > 0) {
    struct __kernel_timespec ts = {.tv_sec = timeout_us / 1000000,
                                   .tv_nsec = (long long)(timeout_us % 1000000) * 1000};
    struct io_uring_cqe *cqe = NULL;
    err = io_uring_submit_and_wait_timeout(&c->ring, &cqe, (unsigned)wait_nr, &ts, NULL);
  } else {
    /* GETEVENTS even with nothing to submit: with DEFER_TASKRUN completions are only
     * posted when the issuer enters the kernel. */
    err = io_uring_submit_and_get_events(&c->ring);
  }
  if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN && err != -EBUSY) return err;
  return reap(c);
}

RINGQ_EXPORT int ringq_listen(const char *host, int port, int backlog) {
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    len = sizeof *in4;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    len = sizeof *in6;
  } else {
    return -EAFNOSUPPORT; /* names are resolved in JS */
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* Accepted sockets inherit it (Linux copies the listener's TCP state): direct descriptors,
   * which have no fd to call setsockopt on, get it this way. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

RINGQ_EXPORT int ringq_local_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

RINGQ_EXPORT int ringq_close_fd(int fd) { return close(fd) < 0 ? -errno : 0; }

/* ---- probe: a small ring, the same command path, a loopback round trip ---- */

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_cmd(ringq_ctx *c, int i, int cmd, int fd, uint32_t ud, int a, int b) {
  int32_t *r = c->cmds + (size_t)i * RINGQ_CMD_INTS;
  r[0] = cmd;
  r[1] = fd;
  r[2] = (int32_t)ud;
  r[3] = a;
  r[4] = b;
}

/* Runs the ring until a completion with user_data `want` arrives; recycles buffers it sees. */
static int await_cqe(ringq_ctx *c, int ncmd, uint32_t want, long long deadline, int32_t *res,
                     int32_t *flags) {
  for (;;) {
    long long left = deadline - now_us();
    if (left <= 0) return -ETIMEDOUT;
    int n = ringq_run(c, ncmd, 1, (int)left);
    ncmd = 0;
    if (n < 0) return n;
    int found = 0;
    for (int i = 0; i < n; i++) {
      int32_t *q = c->cqes + (size_t)i * RINGQ_CQE_INTS;
      if ((uint32_t)q[0] == want && !found) {
        *res = q[1];
        *flags = q[2];
        found = 1;
      }
    }
    if (found) return 0;
  }
}

/* Direct descriptors have no fd to set TCP_NODELAY on: they must inherit it from the
 * listener. Checked once on a plain accept. 1: inherited, 0: not, -errno: could not tell. */
static int nodelay_inherited(int lfd, const struct sockaddr_in *sa) {
  int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), afd = -1, v = 0, r;
  socklen_t len = sizeof v;
  if (cfd < 0) return -errno;
  if (connect(cfd, (const struct sockaddr *)sa, sizeof *sa) < 0 ||
      (afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0 ||
      getsockopt(afd, IPPROTO_TCP, TCP_NODELAY, &v, &len) < 0)
    r = -errno;
  else
    r = v != 0;
  if (afd >= 0) close(afd);
  close(cfd);
  return r;
}

static int selftest(ringq_ctx *c, long long deadline, int32_t *inherited) {
  int lfd = ringq_listen("127.0.0.1", 0, 4), cfd = -1, afd = -1, err;
  int32_t res = 0, flags = 0;
  if (lfd < 0) return lfd;
  int port = ringq_local_port(lfd);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* Only a direct table needs it (plain fds get TCP_NODELAY per accept). Before the ring's
   * accept is armed, so this plain accept takes the connection. */
  *inherited = c->fixed_files ? nodelay_inherited(lfd, &sa) : 0;
  put_cmd(c, 0, RINGQ_CMD_ACCEPT, lfd, RINGQ_UD(RINGQ_OP_ACCEPT, 0, 0), 0, 0);
  if ((err = ringq_run(c, 1, 0, 0)) < 0) goto out;
  cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  /* Loopback connect completes in the backlog without waiting for accept. */
  if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    err = -errno;
    goto out;
  }
  if ((err = await_cqe(c, 0, RINGQ_UD(RINGQ_OP_ACCEPT, 0, 0), deadline, &res, &flags)) < 0)
    goto out;
  if (res < 0) {
    err = res;
    goto out;
  }
  afd = res;
  put_cmd(c, 0, RINGQ_CMD_RECV, afd, RINGQ_UD(RINGQ_OP_RECV, 0, 1), 0, 0);
  if ((err = ringq_run(c, 1, 0, 0)) < 0) goto out;
  if (write(cfd, "ringq-ping", 10) != 10) {
    err = -errno;
    goto out;
  }
  if ((err = await_cqe(c, 0, RINGQ_UD(RINGQ_OP_RECV, 0, 1), deadline, &res, &flags)) < 0)
    goto out;
  if (res != 10 || !(flags & IORING_CQE_F_BUFFER) ||
      memcmp(c->recv + (size_t)((uint32_t)flags >> IORING_CQE_BUFFER_SHIFT) * c->buf_bytes,
             "ringq-ping", 10) != 0) {
    err = res < 0 ? res : -EIO;
    goto out;
  }
  memcpy(c->send, "ringq-pong", 10);
  put_cmd(c, 0, RINGQ_CMD_SEND, afd, RINGQ_UD(RINGQ_OP_SEND, 0, 1), 0, 10);
  if ((err = await_cqe(c, 1, RINGQ_UD(RINGQ_OP_SEND, 0, 1), deadline, &res, &flags)) < 0)
    goto out;
  if (res != 10) {
    err = res < 0 ? res : -EIO;
    goto out;
  }
  struct pollfd pf = {.fd = cfd, .events = POLLIN};
  long long left = deadline - now_us();
  char buf[16];
  if (left <= 0 || poll(&pf, 1, (int)(left / 1000) + 1) != 1) {
    err = -ETIMEDOUT;
    goto out;
  }
  err = read(cfd, buf, sizeof buf) == 10 && memcmp(buf, "ringq-pong", 10) == 0 ? 0 : -EIO;
  if (err == 0) {
    /* The close path too: cancel (multishot recv) hard-linked to close. */
    put_cmd(c, 0, RINGQ_CMD_CLOSE, afd, RINGQ_UD(RINGQ_OP_CANCEL, 0, 1),
            (int)RINGQ_UD(RINGQ_OP_CLOSE, 0, 1), 0);
    int e2 = await_cqe(c, 1, RINGQ_UD(RINGQ_OP_CLOSE, 0, 1), deadline, &res, &flags);
    if (e2 < 0) err = e2;
    else if (res < 0) err = res;
    else afd = -1;
  }
out:
  if (cfd >= 0) close(cfd);
  if (afd >= 0 && !c->fixed_files) close(afd); /* a direct one goes with the ring */
  close(lfd); /* the ring's multishot accept is dropped with the ring */
  return err;
}

/* Everything the backend will need, on a throwaway ring: with `direct`, one with a small
 * direct-descriptor table, so that the self-test runs the path the server will.
 * out: [stage, mode, errno, files] where files is 1 when the server ring may use direct
 * descriptors (the table registered and accepted sockets inherit TCP_NODELAY), else 0. */
RINGQ_EXPORT int ringq_probe(int32_t *out, int timeout_ms, int direct) {
  int32_t o[RINGQ_CREATE_OUT_INTS];
  ringq_ctx *c = ctx_create(64, 256, 16, 4096, 4096, 16, 64, direct ? 4 : 0, 0, o);
  out[0] = o[0];
  out[1] = o[1];
  out[2] = o[2];
  out[3] = 0;
  if (!c) return -o[2];
  int32_t inherited = 0;
  int err = selftest(c, now_us() + (long long)timeout_ms * 1000, &inherited);
  out[3] = c->fixed_files > 0 && inherited == 1;
  if (err < 0) {
    out[0] = err == -ETIMEDOUT ? RINGQ_STAGE_TIMEOUT : RINGQ_STAGE_SELFTEST;
    out[2] = -err;
  }
  ringq_destroy(c);
  return err;
}
