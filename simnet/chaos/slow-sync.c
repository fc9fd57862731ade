/*
 * A slow disk for simnet's fault campaign, preloaded into an agent (LD_PRELOAD): every fsync and
 * fdatasync first waits the milliseconds written in the file FLEET_SLOW_SYNC_FILE names (none,
 * or no such file: no wait; at most 10 s), then syncs as it would. The harness writes the file to
 * make the disk slow and removes it to make it fast again, while the agent runs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long delay_ms(void) {
  const char *file = getenv("FLEET_SLOW_SYNC_FILE");
  if (file == NULL) return 0;
  FILE *f = fopen(file, "r");
  if (f == NULL) return 0;
  long ms = 0;
  if (fscanf(f, "%ld", &ms) != 1) ms = 0;
  fclose(f);
  return ms < 0 ? 0 : ms > 10000 ? 10000 : ms;
}

static void slow_down(void) {
  int saved = errno;
  long ms = delay_ms();
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
