/* A Kafka-protocol test broker for sluice's Kafka tests, built on librdkafka's mock cluster
 * (Debian: librdkafka-dev). See SPEC.md §2 and test/kafka/broker.ts, which compiles and runs it.
 *   mock-broker <brokers> <topic>:<partitions> [<topic>:<partitions> ...]
 * Prints the bootstrap address as one line on stdout, then answers commands read from stdin, one
 * per line, with `ok` or `error <reason>`:
 *   down <brokerId> | up <brokerId>         disconnect a broker / accept connections again
 *   error <apiKey> <errorCode> <count>      the next <count> requests of <apiKey> fail with <errorCode>
 *   delay <brokerId> <apiKey> <ms> <count>  broker <brokerId> answers its next <count> requests of
 *                                           <apiKey> <ms> late (e.g. 0 = Produce: a stalled sink)
 * Exits cleanly on SIGTERM, SIGINT or stdin EOF. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) { (void)sig; stopping = 1; }

/* A real broker answers on TCP_NODELAY sockets; the mock's are not, so its second answer on a
 * connection (a small write) waited for the client's delayed ACK of the first: up to 40 ms on
 * pipelined requests (measured with a librdkafka producer). Its listening sockets are found
 * among this process's descriptors; the connections they accept inherit the option. */
static void no_delay_on_listeners(void) {
  for (int fd = 3; fd < 1024; fd++) {
    int listening = 0, one = 1;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

/* Strict integer parse: the whole token must be a number within [lo, hi]. */
static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* One answer line per command, flushed at once: the test side waits for it. */
#define reply(...) (printf(__VA_ARGS__), putchar('\n'), fflush(stdout))

static void run_command(rd_kafka_mock_cluster_t *mc, char *line) {
  char *argv[6];
  int argc = 0;
  for (char *tok = strtok(line, " \t\r\n"); tok && argc < 6; tok = strtok(NULL, " \t\r\n")) argv[argc++] = tok;
  long a, b, c;
  if (argc == 0) return; /* blank line */
  if (!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) {
    if (argc != 2 || parse_int(argv[1], -1, INT32_MAX, &a)) {
      reply("error usage: %s <brokerId>", argv[0]);
    } else {
      rd_kafka_resp_err_t err = argv[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mc, (int32_t)a)
                                                  : rd_kafka_mock_broker_set_up(mc, (int32_t)a);
      if (err) reply("error %s", rd_kafka_err2str(err));
      else reply("ok");
    }
  } else if (!strcmp(argv[0], "error")) {
    /* count is capped so a typo cannot allocate gigabytes; error codes may be negative
     * (librdkafka's local codes, e.g. -195 = _TRANSPORT makes the broker drop the connection). */
    rd_kafka_resp_err_t *errs = NULL;
    if (argc != 4 || parse_int(argv[1], 0, INT16_MAX, &a) || parse_int(argv[2], INT_MIN, INT_MAX, &b) ||
        parse_int(argv[3], 1, 100000, &c)) {
      reply("error usage: error <apiKey 0..32767> <errorCode> <count 1..100000>");
    } else if (!(errs = malloc((size_t)c * sizeof *errs))) {
      reply("error out of memory");
    } else {
      for (long i = 0; i < c; i++) errs[i] = (rd_kafka_resp_err_t)b;
      /* returns void: the mock has no way to reject it */
      rd_kafka_mock_push_request_errors_array(mc, (int16_t)a, (size_t)c, errs);
      free(errs);
      reply("ok");
    }
  } else if (!strcmp(argv[0], "delay")) {
    long d;
    if (argc != 5 || parse_int(argv[1], 0, INT32_MAX, &a) || parse_int(argv[2], 0, INT16_MAX, &b) ||
        parse_int(argv[3], 0, 600000, &c) || parse_int(argv[4], 1, 1000, &d)) {
      reply("error usage: delay <brokerId> <apiKey 0..32767> <ms 0..600000> <count 1..1000>");
    } else {
      rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
      /* one (no error, delay) tuple per call: the va-arg list cannot be built at run time */
      for (long i = 0; i < d && !err; i++)
        err = rd_kafka_mock_broker_push_request_error_rtts(mc, (int32_t)a, (int16_t)b, 1, RD_KAFKA_RESP_ERR_NO_ERROR, (int)c);
      if (err) reply("error %s", rd_kafka_err2str(err));
      else reply("ok");
    }
  } else {
    reply("error unknown command: %s (use: down <id> | up <id> | error <apiKey> <code> <count> | delay <id> <apiKey> <ms> <count>)", argv[0]);
  }
}

int main(int argc, char **argv) {
  long nbrokers;
  if (argc < 3 || parse_int(argv[1], 1, 64, &nbrokers)) {
    fprintf(stderr, "usage: %s <brokers 1..64> <topic>:<partitions> [...]\n", argv[0]);
    return 2;
  }
  /* Block SIGTERM/SIGINT while librdkafka starts its threads: they inherit the mask, so the signal
   * can only land on this thread, where it interrupts the blocking read below (no SA_RESTART). */
  sigset_t sigs, old;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  struct sigaction sa = {.sa_handler = on_signal}; /* sa_flags = 0: no SA_RESTART */
  if (pthread_sigmask(SIG_BLOCK, &sigs, &old) || sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL)) {
    fprintf(stderr, "mock-broker: cannot set up signal handling\n");
    return 1;
  }
  /* The mock cluster needs an rd_kafka_t for its bookkeeping; an idle producer with no
   * bootstrap servers is the lightest one. */
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* log warnings and worse only: skips the notice that this producer has no bootstrap.servers */
  rd_kafka_t *rk = NULL;
  if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
    rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf only on success */
  else if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr)))
    rd_kafka_conf_destroy(conf);
  if (!rk) {
    fprintf(stderr, "mock-broker: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)nbrokers);
  if (!mc) {
    fprintf(stderr, "mock-broker: rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  no_delay_on_listeners();
  int rc = 0;
  for (int i = 2; i < argc && rc == 0; i++) {
    /* the last ':' splits, so topic names may not contain one (Kafka forbids it anyway) */
    char *colon = strrchr(argv[i], ':');
    long parts;
    rd_kafka_resp_err_t err;
    if (!colon || colon == argv[i] || parse_int(colon + 1, 1, 100000, &parts)) {
      fprintf(stderr, "mock-broker: bad topic spec '%s' (want <topic>:<partitions>)\n", argv[i]);
      rc = 2;
    } else {
      *colon = '\0';
      /* CreateTopics is not implemented by the mock, so topics must be created here. */
      if ((err = rd_kafka_mock_topic_create(mc, argv[i], (int)parts, 1))) {
        fprintf(stderr, "mock-broker: creating topic %s: %s\n", argv[i], rd_kafka_err2str(err));
        rc = 1;
      }
    }
  }
  if (rc == 0 && pthread_sigmask(SIG_SETMASK, &old, NULL) != 0) {
    fprintf(stderr, "mock-broker: cannot unblock signals\n");
    rc = 1;
  }
  if (rc == 0) {
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    /* A signal between the check and the read is only seen at the next line or EOF: broker.ts
     * closes stdin before it sends SIGTERM, so that window never hangs it. */
    char line[1024];
    while (!stopping && fgets(line, sizeof line, stdin)) run_command(mc, line);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return rc;
}
