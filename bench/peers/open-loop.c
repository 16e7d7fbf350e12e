/*
 * The serve suite's open-loop load (bench/serve-load.ts): HTTP/1.1 requests on a fixed schedule
 * over keep-alive connections, latency from each request's scheduled send, so a stalled server
 * cannot hide its stall by slowing the sender down (coordinated omission). In C, as wrk is: the
 * generator shares the machine's two cores with the server it measures, and Node's took ~50 µs
 * of a core a request.
 *
 *   open-loop <host> <port> <requests.bin> <rate> <seconds> <warmupSeconds> <connections>
 *
 * requests.bin holds whole requests, each a little-endian u32 length and its bytes, sent in turn.
 * Request i is due at t0 + i / rate, on the first idle connection, or queued for one (as Node's
 * http.Agent would). Prints one JSON line: p50Ms, p99Ms, maxMs (of the timed part), sent, non2xx,
 * failed (closed or unanswered 10 s after the schedule ended) and sendLagP99Ms (how late sends
 * were against the schedule).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_NS 10000000000LL
#define READ_CHUNK 65536

typedef struct {
  int fd;
  long req;          /* request in flight, or -1 when idle */
  size_t written;    /* bytes of it sent so far */
  char *buf;         /* the answer so far */
  size_t len, cap;
} conn;

static const char *host;
static int port;
static char **reqs;
static uint32_t *req_len;
static size_t nreq;
static int64_t t0, interval_ns;
static long warmup, total;
static double *latency, *lag;
static long nlatency, nlag, done, non2xx, failed;
static int ep;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "open-loop: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int64_t due_ns(long i) { return t0 + (int64_t)i * interval_ns; }

static void open_conn(conn *c) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("host (an IPv4 address)");
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
  c->req = -1;
  c->len = 0;
}

static void finish(long i, int status) {
  if (i >= warmup) {
    latency[nlatency++] = (double)(now_ns() - due_ns(i)) / 1e6;
    if (status == 0) failed++;
    else if (status < 200 || status > 299) non2xx++;
  }
  done++;
}

static void want_out(conn *c, int on) {
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what the socket takes of the request in flight; the rest when it is writable. */
static void push(conn *c) {
  const char *r = reqs[c->req % nreq];
  uint32_t n = req_len[c->req % nreq];
  while (c->written < n) {
    ssize_t w = send(c->fd, r + c->written, n - c->written, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN) return want_out(c, 1);
      return; /* the read side sees the close */
    }
    c->written += (size_t)w;
  }
  want_out(c, 0);
}

static void start(conn *c, long i) {
  if (c->fd < 0) open_conn(c);
  if (i >= warmup) lag[nlag++] = (double)(now_ns() - due_ns(i)) / 1e6;
  c->req = i;
  c->written = 0;
  push(c);
}

/* Where the answer in buf ends (Content-Length or chunked), 0 while incomplete; its status. */
static size_t answer_end(const char *b, size_t len, int *status) {
  const char *head_end = memmem(b, len, "\r\n\r\n", 4);
  if (!head_end) return 0;
  size_t at = (size_t)(head_end - b) + 4;
  *status = len > 12 ? atoi(b + 9) : 0;
  const char *cl = memmem(b, at, "\r\ncontent-length:", 17);
  if (!cl) cl = memmem(b, at, "\r\nContent-Length:", 17);
  if (cl) {
    size_t end = at + (size_t)strtoul(cl + 17, NULL, 10);
    return end <= len ? end : 0;
  }
  for (;;) { /* chunked */
    const char *eol = memmem(b + at, len - at, "\r\n", 2);
    if (!eol) return 0;
    size_t size = strtoul(b + at, NULL, 16);
    if (size == 0) {
      const char *end = memmem(b + at, len - at, "\r\n\r\n", 4);
      return end ? (size_t)(end - b) + 4 : 0;
    }
    at = (size_t)(eol - b) + 2 + size + 2;
    if (at > len) return 0;
  }
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: open-loop <host> <port> <requests.bin> <rate> <seconds> <warmupSeconds> <connections>\n");
    return 2;
  }
  host = argv[1];
  port = atoi(argv[2]);
  double rate = atof(argv[4]);
  warmup = (long)(rate * atof(argv[6]) + 0.5);
  total = warmup + (long)(rate * atof(argv[5]) + 0.5);
  int nconn = atoi(argv[7]);
  interval_ns = (int64_t)(1e9 / rate);

  FILE *f = fopen(argv[3], "rb");
  if (!f) die(argv[3]);
  size_t cap = 64;
  reqs = malloc(cap * sizeof *reqs);
  req_len = malloc(cap * sizeof *req_len);
  uint32_t n;
  while (fread(&n, 4, 1, f) == 1) {
    if (nreq == cap) {
      reqs = realloc(reqs, (cap *= 2) * sizeof *reqs);
      req_len = realloc(req_len, cap * sizeof *req_len);
    }
    reqs[nreq] = malloc(n);
    if (fread(reqs[nreq], 1, n, f) != n) die("requests.bin: truncated");
    req_len[nreq++] = n;
  }
  fclose(f);
  if (nreq == 0) die("requests.bin: no requests");
  latency = malloc((size_t)total * sizeof *latency);
  lag = malloc((size_t)total * sizeof *lag);

  ep = epoll_create1(0);
  conn *conns = calloc((size_t)nconn, sizeof *conns);
  for (int c = 0; c < nconn; c++) {
    conns[c].cap = READ_CHUNK;
    conns[c].buf = malloc(READ_CHUNK);
    open_conn(&conns[c]);
  }
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
  if (tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) != 0) die("timerfd");

  long *waiting = malloc((size_t)total * sizeof *waiting);
  long wait_head = 0, wait_tail = 0, sent = 0;
  int next_idle = 0; /* round robin over idle connections, so that none sits idle long enough to be closed */
  t0 = now_ns();
  int64_t drain_until = 0;
  struct epoll_event evs[256];
  while (done < total) {
    int64_t now = now_ns();
    for (; sent < total && due_ns(sent) <= now; sent++) {
      conn *idle = NULL;
      for (int k = 0; k < nconn && !idle; k++) {
        conn *c = &conns[(next_idle + k) % nconn];
        if (c->req < 0) idle = c, next_idle = (int)((c - conns) + 1) % nconn;
      }
      if (idle) start(idle, sent);
      else waiting[wait_tail++] = sent;
    }
    if (sent == total && drain_until == 0) drain_until = now + DRAIN_NS;
    if (drain_until && now > drain_until) break;
    int64_t wake = sent < total ? due_ns(sent) : drain_until;
    struct itimerspec its = {.it_value = {.tv_sec = wake / 1000000000LL, .tv_nsec = wake % 1000000000LL}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    int ne = epoll_wait(ep, evs, 256, -1);
    if (ne < 0 && errno != EINTR) die("epoll_wait");
    for (int e = 0; e < ne; e++) {
      conn *c = evs[e].data.ptr;
      if (!c) {
        uint64_t x;
        if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN) die("timerfd read");
        continue;
      }
      if (evs[e].events & EPOLLOUT && c->req >= 0) push(c);
      if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      for (;;) {
        if (c->cap - c->len < READ_CHUNK) c->buf = realloc(c->buf, c->cap *= 2);
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) { /* closed: the request in flight fails; the next one reconnects */
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          close(c->fd);
          c->fd = -1;
          if (c->req >= 0) finish(c->req, 0);
          c->req = -1;
          c->len = 0;
          break;
        }
        c->len += (size_t)r;
        int status = 0;
        size_t end;
        while (c->req >= 0 && (end = answer_end(c->buf, c->len, &status)) > 0) {
          finish(c->req, status);
          memmove(c->buf, c->buf + end, c->len - end);
          c->len -= end;
          c->req = -1;
          if (wait_head < wait_tail) start(c, waiting[wait_head++]);
        }
      }
      if (c->fd < 0 && wait_head < wait_tail) start(c, waiting[wait_head++]);
    }
  }
  /* Whatever is still out is unanswered: it fails, at its wait so far. */
  for (int c = 0; c < nconn; c++)
    if (conns[c].req >= 0) finish(conns[c].req, 0);
  for (; wait_head < wait_tail; wait_head++) finish(waiting[wait_head], 0);

  qsort(latency, (size_t)nlatency, sizeof *latency, cmp);
  qsort(lag, (size_t)nlag, sizeof *lag, cmp);
#define PCT(a, n, q) ((n) ? (a)[(long)((q) * (double)((n) - 1))] : 0.0)
  printf("{\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"maxMs\":%.3f,\"sent\":%ld,\"non2xx\":%ld,\"failed\":%ld,\"sendLagP99Ms\":%.3f}\n",
         PCT(latency, nlatency, 0.5), PCT(latency, nlatency, 0.99), nlatency ? latency[nlatency - 1] : 0.0,
         total - warmup, non2xx, failed, PCT(lag, nlag, 0.99));
  return 0;
}
