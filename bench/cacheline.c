/* cacheline: how long a cache line takes to go from one CPU to another
 * and back, right now.  Two threads, pinned to the first two CPUs this
 * process may use, pass a counter back and forth for 0.1 s; prints the
 * median round trip in nanoseconds over 20 slices.
 *
 * The benchmark runs it before and after each case: on a virtual machine
 * the host may place its two vCPUs on cores that share a cache, or not,
 * and move them while it runs.  Everything that hands frames from one
 * process to another (mmap, shm, TCP) then goes at two speeds; this says
 * which one a round ran at.  Not part of the project: bench only. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SLICES 20
#define SLICE_NS 5000000ull

static volatile uint64_t ball __attribute__((aligned (64)));
static volatile int stop __attribute__((aligned (64)));

static uint64_t
now_ns (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (uint64_t) t.tv_sec * 1000000000ull + (uint64_t) t.tv_nsec;
}

static int
pin (int cpu)
{
  cpu_set_t s;
  CPU_ZERO (&s);
  CPU_SET (cpu, &s);
  return pthread_setaffinity_np (pthread_self (), sizeof (s), &s);
}

static void *
returner (void *arg)
{
  pin (*(int *) arg);
  while (!stop) {
    uint64_t v = ball;
    if (v & 1)
      ball = v + 1;
  }
  return NULL;
}

static int
cmp (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

int
main (void)
{
  cpu_set_t allowed;
  int cpus[2], n = 0, i;
  double rt[SLICES];
  pthread_t t;

  if (sched_getaffinity (0, sizeof (allowed), &allowed) != 0)
    return 1;
  for (i = 0; i < CPU_SETSIZE && n < 2; i++)
    if (CPU_ISSET (i, &allowed))
      cpus[n++] = i;
  if (n < 2) {
    fprintf (stderr, "cacheline: needs two CPUs\n");
    return 1;
  }
  if (pin (cpus[0]) != 0 || pthread_create (&t, NULL, returner, &cpus[1]))
    return 1;
  for (i = 0; i < SLICES; i++) {
    uint64_t t0 = now_ns (), trips = 0, v;
    do {
      v = ball + 1;
      ball = v;                 /* odd: the other CPU's turn */
      while (ball == v);
      trips++;
    } while (now_ns () - t0 < SLICE_NS);
    rt[i] = (double) (now_ns () - t0) / (double) trips;
  }
  stop = 1;
  pthread_join (t, NULL);
  qsort (rt, SLICES, sizeof (rt[0]), cmp);
  printf ("%.0f\n", rt[SLICES / 2]);
  return 0;
}
