/* events.h — rally's event and its peer, a pthread mutex + condvar event
 * (what C programs write by hand), behind one interface. */
#ifndef RALLY_BENCH_EVENTS_H
#define RALLY_BENCH_EVENTS_H

#ifdef __cplusplus
extern "C" {
#endif

enum event_impl { EVENT_RALLY, EVENT_CONDVAR, EVENT_IMPL_COUNT };

struct bench_event;

const char *bench_event_name(enum event_impl impl);
struct bench_event *bench_event_new(enum event_impl impl);
void bench_event_set(struct bench_event *e);
void bench_event_clear(struct bench_event *e);
void bench_event_wait(struct bench_event *e); /* until set */
void bench_event_free(struct bench_event *e);

#ifdef __cplusplus
}
#endif

#endif
