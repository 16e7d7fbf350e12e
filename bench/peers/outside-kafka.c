/*
 * The outside producer and consumer of the kafka suite's latency cases (bench/outside.ts), on
 * librdkafka: the clients a user's own services would be, costing a few percent of a core where
 * kafkajs took a third of one each, on the two cores they share with sluice and the broker.
 *
 *   outside-kafka produce <brokers> <topic> <messages.bin> <startMs> <stepMs> <tickMs> <acks.bin>
 *     Message i (partition, key, value, as bench/outside.ts wrote them) is due at
 *     startMs + (i + 1) * stepMs (epoch ms). Every tickMs it sends what is due, acks=all, and
 *     records each message's ack (its delivery report, epoch ms) as a float64 in acks.bin.
 *     Prints "producing" when it starts sending.
 *   outside-kafka consume <brokers> <topic> <seen.bin> <windows|per-event> <fetchWaitMs>
 *     Reads every partition of the topic from the start until SIGTERM; prints
 *     "joined" once assigned. Writes float64s per record to seen.bin: windows: [timestamp + 1,
 *     receipt]; per-event: [card, timestamp, receipt] ({"key":"card-<k>",... starts the value).
 *
 * messages.bin: per message, little-endian u32 partition, u32 key bytes, key, u32 value bytes,
 * value.
 */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PER_EVENT_CARD_AT 13

static volatile sig_atomic_t stopping = 0;
static void on_term(int sig) { (void)sig; stopping = 1; }

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "outside-kafka: %s: %s\n", what, why);
  exit(1);
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) die(name, err);
}

/* A client's settings, both kinds: the brokers, and Nagle's algorithm off, as Kafka's clients have it. */
static rd_kafka_conf_t *client_conf(const char *brokers) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", brokers);
  set(conf, "socket.nagle.disable", "true");
  return conf;
}

static rd_kafka_t *client(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
  char err[512];
  rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) die(type == RD_KAFKA_PRODUCER ? "producer" : "consumer", err);
  return rk;
}

/* The topic's partition count, once the brokers answer for it. */
static int partitions_of(rd_kafka_t *rk, const char *topic) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  const struct rd_kafka_metadata *md;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].partition_cnt == 0) die(topic, "no metadata");
  int partitions = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return partitions;
}

static void write_all(const char *path, const double *v, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(v, sizeof *v, n, f) != n || fclose(f) != 0) die(path, "cannot write");
}

static char *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path, "cannot open");
  fseek(f, 0, SEEK_END);
  *size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*size ? *size : 1);
  if (!b || fread(b, 1, *size, f) != *size) die(path, "cannot read");
  fclose(f);
  return b;
}

static uint32_t u32(const char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* ---- produce ------------------------------------------------------------------------------- */

typedef struct {
  int32_t partition;
  const char *key, *value;
  uint32_t key_len, value_len;
} message;

static double *acks;
static size_t failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  size_t i = (size_t)(uintptr_t)m->_private;
  if (m->err) failed++;
  else acks[i] = now_ms();
}

static int produce(char **argv) {
  const char *brokers = argv[0], *topic = argv[1];
  double start_ms = atof(argv[3]), step_ms = atof(argv[4]), tick_ms = atof(argv[5]);
  size_t size, n = 0, cap = 1024;
  char *bytes = read_all(argv[2], &size);
  message *msgs = malloc(cap * sizeof *msgs);
  for (size_t at = 0; at < size; n++) {
    if (n == cap) msgs = realloc(msgs, (cap *= 2) * sizeof *msgs);
    message *m = &msgs[n];
    m->partition = (int32_t)u32(bytes + at);
    m->key_len = u32(bytes + at + 4);
    m->key = bytes + at + 8;
    at += 8 + m->key_len;
    m->value_len = u32(bytes + at);
    m->value = bytes + at + 4;
    at += 4 + m->value_len;
  }
  acks = calloc(n ? n : 1, sizeof *acks);

  rd_kafka_conf_t *conf = client_conf(brokers);
  set(conf, "acks", "all");
  /* A tick's messages go out as one record batch per partition, as one send of kafkajs did. */
  set(conf, "linger.ms", "1");
  set(conf, "batch.num.messages", "100000");
  /* One request at a time per broker, as kafkajs sends (before the mock's sockets had
   * TCP_NODELAY, pipelined requests had their acks up to 40 ms late: test/kafka/mock-broker.c). */
  set(conf, "max.in.flight.requests.per.connection", "1");
  set(conf, "queue.buffering.max.messages", "1000000");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, conf);
  partitions_of(rk, topic); /* metadata now, not with the first events */
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);

  while (now_ms() < start_ms) rd_kafka_poll(rk, 1);
  printf("producing\n");
  fflush(stdout);
  size_t sent = 0;
  for (long tick = 1; sent < n; tick++) {
    size_t due = (size_t)((now_ms() - start_ms) / step_ms);
    if (due > n) due = n;
    for (; sent < due; sent++) {
      message *m = &msgs[sent];
      while (rd_kafka_produce(rkt, m->partition, 0, (void *)m->value, m->value_len, m->key, m->key_len, (void *)(uintptr_t)sent) != 0) {
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce", rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_poll(rk, 1);
      }
    }
    double next = start_ms + (double)tick * tick_ms;
    do rd_kafka_poll(rk, 1);
    while (now_ms() < next);
  }
  if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("flush", "messages still unacknowledged after 30 s");
  if (failed) {
    char why[64];
    snprintf(why, sizeof why, "%zu of %zu messages failed", failed, n);
    die("produce", why);
  }
  write_all(argv[6], acks, n);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return 0;
}

/* ---- consume ------------------------------------------------------------------------------- */

static int consume(char **argv) {
  const char *brokers = argv[0], *topic = argv[1], *out = argv[2];
  int per_event = strcmp(argv[3], "per-event") == 0;
  const char *fetch_wait_ms = argv[4];
  rd_kafka_conf_t *conf = client_conf(brokers);
  set(conf, "group.id", "sluice-bench-outside");
  set(conf, "enable.auto.commit", "false");
  set(conf, "fetch.wait.max.ms", fetch_wait_ms);
  set(conf, "fetch.error.backoff.ms", fetch_wait_ms);
  rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk);

  /* Every partition from the start, assigned here: no group join to wait for. */
  int partitions = partitions_of(rk, topic);
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; p++) rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  if (rd_kafka_assign(rk, list) != RD_KAFKA_RESP_ERR_NO_ERROR) die(topic, "cannot assign its partitions");
  rd_kafka_topic_partition_list_destroy(list);
  printf("joined\n");
  fflush(stdout);

  size_t n = 0, cap = 1 << 20;
  double *seen = malloc(cap * sizeof *seen);
  while (!stopping) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) {
      double received = now_ms();
      double ts = (double)rd_kafka_message_timestamp(m, NULL);
      if (n + 3 > cap) seen = realloc(seen, (cap *= 2) * sizeof *seen);
      if (per_event) {
        const char *v = m->payload;
        double card = 0;
        for (size_t at = PER_EVENT_CARD_AT; at < m->len && v[at] != '"'; at++) card = 10 * card + (v[at] - '0');
        seen[n++] = card;
        seen[n++] = ts;
      } else seen[n++] = ts + 1;
      seen[n++] = received;
    }
    rd_kafka_message_destroy(m);
  }
  write_all(out, seen, n);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGTERM, on_term);
  if (argc == 9 && strcmp(argv[1], "produce") == 0) return produce(argv + 2);
  if (argc == 7 && strcmp(argv[1], "consume") == 0) return consume(argv + 2);
  fprintf(stderr, "usage: outside-kafka produce <brokers> <topic> <messages.bin> <startMs> <stepMs> <tickMs> <acks.bin>\n"
                  "       outside-kafka consume <brokers> <topic> <seen.bin> <windows|per-event> <fetchWaitMs>\n");
  return 2;
}
