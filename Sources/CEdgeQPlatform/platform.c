#define _GNU_SOURCE
#include "CEdgeQPlatform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static __thread int last_errno;

int64_t eq_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) { last_errno = errno; return -1; }
    if (!S_ISREG(st.st_mode)) { last_errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL; return -1; }
    return (int64_t)st.st_size;
}

int eq_read_file(const char *path, void *destination, int64_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { last_errno = errno; return -1; }
    char *p = destination;
    int64_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, p + done, (size_t)(size - done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { last_errno = n < 0 ? errno : EIO; close(fd); return -1; }
        done += n;
    }
    close(fd);
    return 0;
}

int eq_write_file_atomic(const char *path, const void *data, int64_t size) {
    size_t length = strlen(path);
    char *temporary = malloc(length + 32);
    if (!temporary) { last_errno = ENOMEM; return -1; }
    snprintf(temporary, length + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { last_errno = errno; free(temporary); return -1; }
    const char *p = data;
    int64_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, p + done, (size_t)(size - done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { last_errno = n < 0 ? errno : EIO; close(fd); unlink(temporary); free(temporary); return -1; }
        done += n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) { last_errno = errno; unlink(temporary); free(temporary); return -1; }
    if (rename(temporary, path) != 0) { last_errno = errno; unlink(temporary); free(temporary); return -1; }
    free(temporary);
    return 0;
}

int eq_is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *eq_last_error(void) { return strerror(last_errno); }

uint64_t eq_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t eq_peak_rss_kib(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return (int64_t)usage.ru_maxrss;
}

static void write_all(int fd, const char *bytes, size_t count) {
    while (count > 0) {
        ssize_t n = write(fd, bytes, count);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        bytes += n;
        count -= (size_t)n;
    }
}

void eq_write_stdout(const char *bytes, size_t count) { write_all(1, bytes, count); }
void eq_write_stderr(const char *bytes, size_t count) { write_all(2, bytes, count); }
int eq_stderr_is_terminal(void) { return isatty(2); }

int eq_parse_double(const char *text, double *value) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE) return -1;
    *value = v;
    return 0;
}
