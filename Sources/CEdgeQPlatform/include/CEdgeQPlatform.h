// The few operating-system services EdgeQ's commands need, in plain C so that the same Swift code runs on
// the host and in the static Embedded Swift device binary (which has no Foundation).
#ifndef CEDGEQ_PLATFORM_H
#define CEDGEQ_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

// Size of a regular file in bytes, or -1 (then eq_last_error() says why).
int64_t eq_file_size(const char *path);
// Reads exactly `size` bytes of the file into `destination`; 0 on success, -1 on error.
int eq_read_file(const char *path, void *destination, int64_t size);
// Writes `size` bytes to a temporary file beside `path`, flushes it and renames it over `path`, so a reader
// never sees a half-written file; 0 on success, -1 on error (the temporary file is removed).
int eq_write_file_atomic(const char *path, const void *data, int64_t size);
// 1 if `path` is a directory.
int eq_is_directory(const char *path);
// strerror(errno) of the last failing call above.
const char *eq_last_error(void);

// Monotonic clock in nanoseconds.
uint64_t eq_monotonic_ns(void);
// Peak resident set size of this process in KiB (0 where unknown).
int64_t eq_peak_rss_kib(void);

void eq_write_stdout(const char *bytes, size_t count);
void eq_write_stderr(const char *bytes, size_t count);
// 1 if standard error is a terminal (progress lines are redrawn in place only then).
int eq_stderr_is_terminal(void);

// strtod on a whole string: 0 on success, -1 if it is not entirely a number.
int eq_parse_double(const char *text, double *value);

// Worker threads for data-parallel loops (thread_pool.c). eq_parallel_for splits the items 0..<count into one
// contiguous range per thread, calls body(context, begin, end, worker) for each non-empty range on one of
// the threads (`worker`: its index, 0 for the calling thread; calls with the same index never overlap), and
// returns when all calls have returned. One eq_parallel_for at a time per pool.
typedef struct eq_thread_pool eq_thread_pool;
typedef void (*eq_range_body)(void *context, int64_t begin, int64_t end, int32_t worker);
// A pool of `threads` workers in total (threads - 1 threads are started; the caller is worker 0), 1 to
// EQ_THREAD_POOL_MAX_THREADS; NULL on failure.
#define EQ_THREAD_POOL_MAX_THREADS 32
eq_thread_pool *eq_thread_pool_create(int32_t threads);
void eq_thread_pool_destroy(eq_thread_pool *pool);
void eq_parallel_for(eq_thread_pool *pool, int64_t count, eq_range_body body, void *context);

#endif
