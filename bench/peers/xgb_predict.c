/*
 * The libxgboost peer for the xgboost bench suite: times Debian's libxgboost (1.7.4) on one thread
 * predicting a dense float32 batch in place, the fastest CPU path its C API offers.
 *
 *   xgb_predict <model.json> <rows.f32> <nRows> <nFeatures> <runs> <preds-out.f32>
 *
 * rows.f32 holds at least nRows x nFeatures little-endian float32, row-major; NaN is missing.
 * After one untimed warm-up it times <runs> predictions of the whole batch, prints
 * {"runsMs":[...], "nRows":N, "nOutputs":K, "version":"1.7.4"} on stdout, and writes the last
 * run's predictions (nRows x K float32) to preds-out.f32 for the parity check.
 *
 * Built by bench/suites/xgboost.ts at bench time: cc -O2 -o bench/.cache/xgb_predict <this> -lxgboost
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <xgboost/c_api.h>

#define CHECK(call)                                                                    \
  do {                                                                                 \
    if ((call) != 0) {                                                                 \
      fprintf(stderr, "xgb_predict: %s failed: %s\n", #call, XGBGetLastError());       \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long parse_positive(const char *s, const char *what) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v <= 0) {
    fprintf(stderr, "xgb_predict: %s must be a positive integer, got '%s'\n", what, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s <model.json> <rows.f32> <nRows> <nFeatures> <runs> <preds-out.f32>\n",
            argv[0]);
    return 2;
  }
  const char *model_path = argv[1], *rows_path = argv[2], *out_path = argv[6];
  const long n_rows = parse_positive(argv[3], "nRows");
  const long n_features = parse_positive(argv[4], "nFeatures");
  const long runs = parse_positive(argv[5], "runs");

  const size_t n_values = (size_t)n_rows * (size_t)n_features;
  float *rows = malloc(n_values * sizeof(float));
  if (rows == NULL) {
    fprintf(stderr, "xgb_predict: out of memory for %zu values\n", n_values);
    return 1;
  }
  FILE *f = fopen(rows_path, "rb");
  if (f == NULL) {
    perror(rows_path);
    return 1;
  }
  /* Raw little-endian float32; every platform this runs on (x86-64, arm64) is little-endian. */
  if (fread(rows, sizeof(float), n_values, f) != n_values) {
    fprintf(stderr, "xgb_predict: %s holds fewer than %ld x %ld float32 values\n", rows_path,
            n_rows, n_features);
    return 1;
  }
  fclose(f);

  BoosterHandle booster;
  CHECK(XGBoosterCreate(NULL, 0, &booster));
  CHECK(XGBoosterLoadModel(booster, model_path));
  /* One thread: the goal compares single-thread rows/s (SPEC §9). */
  CHECK(XGBoosterSetParam(booster, "nthread", "1"));

  /* __array_interface__ (version 3) of the dense row-major batch, as numpy would describe it. */
  char array_interface[256];
  snprintf(array_interface, sizeof array_interface,
           "{\"data\": [%llu, true], \"shape\": [%ld, %ld], \"strides\": null, "
           "\"typestr\": \"<f4\", \"version\": 3}",
           (unsigned long long)(uintptr_t)rows, n_rows, n_features);
  /* The same config xgboost 1.7.4's Booster.inplace_predict sends: normal prediction (type 0),
   * all trees (iteration_end 0), NaN as the missing value. */
  const char *config =
      "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
      "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}";

  bst_ulong const *out_shape = NULL;
  bst_ulong out_dim = 0;
  float const *out_result = NULL;

  /* Warm-up: first-call allocations and page faults are not what we compare. */
  CHECK(XGBoosterPredictFromDense(booster, array_interface, config, NULL, &out_shape, &out_dim,
                                  &out_result));

  double *runs_ms = malloc((size_t)runs * sizeof(double));
  for (long r = 0; r < runs; r++) {
    double t0 = now_ms();
    CHECK(XGBoosterPredictFromDense(booster, array_interface, config, NULL, &out_shape, &out_dim,
                                    &out_result));
    runs_ms[r] = now_ms() - t0;
  }

  size_t n_out = 1;
  for (bst_ulong d = 0; d < out_dim; d++) n_out *= (size_t)out_shape[d];
  if (n_out % (size_t)n_rows != 0) {
    fprintf(stderr, "xgb_predict: %zu predictions do not divide into %ld rows\n", n_out, n_rows);
    return 1;
  }

  FILE *o = fopen(out_path, "wb");
  if (o == NULL) {
    perror(out_path);
    return 1;
  }
  if (fwrite(out_result, sizeof(float), n_out, o) != n_out || fclose(o) != 0) {
    fprintf(stderr, "xgb_predict: could not write %s\n", out_path);
    return 1;
  }

  printf("{\"runsMs\":[");
  for (long r = 0; r < runs; r++) printf("%s%.6f", r ? "," : "", runs_ms[r]);
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  printf("], \"nRows\":%ld, \"nOutputs\":%zu, \"version\":\"%d.%d.%d\"}\n", n_rows,
         n_out / (size_t)n_rows, major, minor, patch);

  CHECK(XGBoosterFree(booster));
  free(runs_ms);
  free(rows);
  return 0;
}
