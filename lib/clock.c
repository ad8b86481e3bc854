/* clock.c — deadlines on CLOCK_MONOTONIC. */
#include "clock.h"

#include "rally.h"

#define NS_PER_S 1000000000LL

const struct rally__deadline rally__no_deadline = {.forever = true};

int64_t rally__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

void rally__deadline_init(struct rally__deadline *d, int64_t timeout_ns)
{
	d->stop = NULL;
	d->forever = timeout_ns == RALLY_FOREVER;
	if (d->forever)
		return;
	clock_gettime(CLOCK_MONOTONIC, &d->at);
	/* Saturate rather than overflow: INT64_MAX ns is 292 years. */
	int64_t sec = timeout_ns / NS_PER_S;
	int64_t nsec = d->at.tv_nsec + timeout_ns % NS_PER_S;
	if (nsec >= NS_PER_S) {
		nsec -= NS_PER_S;
		sec++;
	}
	if (d->at.tv_sec > INT64_MAX - sec) {
		d->forever = true;
		return;
	}
	d->at.tv_sec += sec;
	d->at.tv_nsec = nsec;
	d->at_ns = d->at.tv_sec > INT64_MAX / NS_PER_S - 1
	               ? INT64_MAX
	               : d->at.tv_sec * NS_PER_S + d->at.tv_nsec;
}

bool rally__deadline_passed(const struct rally__deadline *d)
{
	return !d->forever && rally__now_ns() >= d->at_ns;
}

bool rally__deadline_passed_at(const struct rally__deadline *d, int64_t now)
{
	return !d->forever && now >= d->at_ns;
}

const struct timespec *rally__deadline_ts(const struct rally__deadline *d)
{
	return d->forever ? NULL : &d->at;
}

void rally__deadline_within(struct rally__deadline *out,
                            const struct rally__deadline *d, int64_t within_ns)
{
	rally__deadline_init(out, within_ns);
	if (!d->forever && d->at_ns < out->at_ns)
		*out = *d;
}
