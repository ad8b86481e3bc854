/* export.h — the library is built with hidden visibility; public entry
 * points are marked where they are defined. */
#ifndef RALLY_EXPORT_H
#define RALLY_EXPORT_H

#define RALLY_EXPORT __attribute__((visibility("default")))

#endif
