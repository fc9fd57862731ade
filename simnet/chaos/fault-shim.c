/*
 * Faults of the machine under one agent, for simnet's fault campaign, preloaded into the agent
 * (LD_PRELOAD) and steered by files the harness writes beside its state directory while it runs:
 *   FLEET_SLOW_SYNC_FILE    milliseconds every fsync and fdatasync waits first (at most 10 s):
 *                           a slow disk;
 *   FLEET_CLOCK_OFFSET_FILE seconds added to the wall clock (CLOCK_REALTIME, gettimeofday, time;
 *                           -1e6..1e6): a clock stepped by an operator, NTP or a resumed VM.
 *                           Monotonic clocks are left alone, as a stepped wall clock leaves them.
 * No file, or nothing readable in it: no fault. The clock's file is read again at most every
 * 100 ms of monotonic time.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long read_number(const char *variable, long low, long high) {
  const char *file = getenv(variable);
  if (file == NULL) return 0;
  FILE *f = fopen(file, "r");
  if (f == NULL) return 0;
  long value = 0;
  if (fscanf(f, "%ld", &value) != 1) value = 0;
  fclose(f);
  return value < low ? low : value > high ? high : value;
}

static void slow_down(void) {
  int saved = errno;
  long ms = read_number("FLEET_SLOW_SYNC_FILE", 0, 10000);
  struct timespec left = { ms / 1000, (ms % 1000) * 1000000L };
  while (ms > 0 && nanosleep(&left, &left) != 0 && errno == EINTR) {}
  errno = saved;
}

int fsync(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  slow_down();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  slow_down();
  return real(fd);
}

static int (*real_clock_gettime)(clockid_t, struct timespec *) = NULL;

/* The wall clock's offset in seconds, from its file, read again at most every 100 ms. */
static long clock_offset(void) {
  static long offset = 0;
  static long long checked_ms = -1000000;
  if (getenv("FLEET_CLOCK_OFFSET_FILE") == NULL) return 0;
  struct timespec now;
  if (real_clock_gettime(CLOCK_MONOTONIC, &now) != 0) return offset;
  long long ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  if (ms - checked_ms >= 100) {
    int saved = errno;
    offset = read_number("FLEET_CLOCK_OFFSET_FILE", -1000000, 1000000);
    errno = saved;
    checked_ms = ms;
  }
  return offset;
}

int clock_gettime(clockid_t id, struct timespec *tp) {
  if (real_clock_gettime == NULL)
    real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
  int result = real_clock_gettime(id, tp);
  if (result == 0 && tp != NULL && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
    tp->tv_sec += clock_offset();
  return result;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
  static int (*real)(struct timeval *restrict, void *restrict) = NULL;
  if (real == NULL) real = (int (*)(struct timeval *restrict, void *restrict))dlsym(RTLD_NEXT, "gettimeofday");
  if (real_clock_gettime == NULL)
    real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
  int result = real(tv, tz);
  if (result == 0 && tv != NULL) tv->tv_sec += clock_offset();
  return result;
}

time_t time(time_t *out) {
  struct timespec now;
  if (clock_gettime(CLOCK_REALTIME, &now) != 0) return (time_t)-1;
  if (out != NULL) *out = now.tv_sec;
  return now.tv_sec;
}
