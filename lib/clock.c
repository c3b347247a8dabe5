/* ISC license. */
/*
 * clock.c: the monotonic clock in milliseconds, and a sleep that an
 * interrupting signal does not cut short.
 */
#include <errno.h>
#include <time.h>

#include "alba.h"

long long
alba_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
alba_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
