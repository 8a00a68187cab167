// A fixed set of worker threads for the runtime's data-parallel loops. One job at a time: the caller
// publishes it by bumping `generation`; share s of it, items [count * s / threads, count * (s + 1) / threads),
// belongs to thread s (the caller is thread 0). A thread that is late (preempted, its core busy with another
// process) would hold everyone up, so once the caller has finished its own share, it takes the shares nobody
// has started. Which thread computes a share never changes the result: the runtime's work items are
// independent.
#define _GNU_SOURCE
#include "CEdgeQPlatform.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

// Waiting (workers for the next job, the caller for the workers) is three steps: poll an atomic, since
// consecutive layers start microseconds apart, far sooner than a blocked thread wakes; then poll and yield
// the CPU, so that a preempted thread (more threads than free cores) can finish the share everyone waits
// for (without it, 4 threads on 2 cores ran GhostNet 1.6x slower); then block on a condition variable, so
// that an idle pool uses no CPU.
enum { busy_polls = 1 << 10, yielding_polls = 1 << 10 };

// One poll of a wait: false once the wait should block instead.
static inline bool keep_polling(int poll) {
    if (poll < busy_polls) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
        __asm__ __volatile__("yield");
#endif
        return true;
    }
    if (poll < busy_polls + yielding_polls) {
        sched_yield();
        return true;
    }
    return false;
}

struct eq_thread_pool {
    int32_t threads;     // at most EQ_THREAD_POOL_MAX_THREADS
    pthread_t *workers;  // threads - 1 of them: workers 1 ..< threads (the caller is worker 0)
    // The current job: written by the caller before it bumps `generation`, read-only until it is finished.
    eq_range_body body;
    void *context;
    int64_t count;
    _Atomic uint64_t generation;  // bumped once per job (and once to stop)
    // (generation << 32) | bit s for each share s already taken. Tagged with the job, so that a thread still
    // holding an earlier job's generation can never take a share of a later one.
    _Atomic uint64_t taken;
    _Atomic int32_t finished;     // shares of the current job computed
    _Atomic bool stopping;
    pthread_mutex_t mutex;
    pthread_cond_t job_posted;    // waited on by idle workers
    pthread_cond_t job_finished;  // waited on by the caller for the last share
};

struct worker_start {
    struct eq_thread_pool *pool;
    int32_t index;
};

static uint64_t tag(uint64_t generation) { return (generation & 0xffffffffu) << 32; }

// Marks share `share` of job `generation` taken; false if it was already, or the job is over.
static bool take(struct eq_thread_pool *pool, uint64_t generation, int32_t share) {
    uint64_t bit = (uint64_t)1 << share;
    uint64_t taken = atomic_load(&pool->taken);
    do {
        if ((taken & ~(uint64_t)0xffffffffu) != tag(generation) || (taken & bit)) return false;
    } while (!atomic_compare_exchange_weak(&pool->taken, &taken, taken | bit));
    return true;
}

// Computes a share that this thread has taken (the job cannot finish, nor its fields change, before it is
// counted here); `worker` is the thread's index.
static void run_share(struct eq_thread_pool *pool, int32_t share, int32_t worker) {
    int64_t begin = pool->count * share / pool->threads;
    int64_t end = pool->count * (share + 1) / pool->threads;
    if (begin < end) pool->body(pool->context, begin, end, worker);
    if (atomic_fetch_add(&pool->finished, 1) + 1 == pool->threads) {
        // The caller checks `finished` under the mutex before it blocks, so this signal is never lost.
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_signal(&pool->job_finished);
        pthread_mutex_unlock(&pool->mutex);
    }
}

static uint64_t wait_for_job(struct eq_thread_pool *pool, uint64_t seen) {
    for (int poll = 0; keep_polling(poll); poll++) {
        uint64_t generation = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (generation != seen) return generation;
    }
    pthread_mutex_lock(&pool->mutex);
    uint64_t generation;
    while ((generation = atomic_load(&pool->generation)) == seen) pthread_cond_wait(&pool->job_posted, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
    return generation;
}

static void *worker_main(void *argument) {
    struct worker_start start = *(struct worker_start *)argument;
    free(argument);
    struct eq_thread_pool *pool = start.pool;
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_job(pool, seen);
        if (atomic_load(&pool->stopping)) return NULL;
        if (take(pool, seen, start.index)) run_share(pool, start.index, start.index);
    }
}

static void post(struct eq_thread_pool *pool) {
    // Under the mutex: a worker that found no new job holds it until it waits, so it cannot miss this.
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->job_posted);
    pthread_mutex_unlock(&pool->mutex);
}

eq_thread_pool *eq_thread_pool_create(int32_t threads) {
    if (threads < 1 || threads > EQ_THREAD_POOL_MAX_THREADS) return NULL;
    struct eq_thread_pool *pool = calloc(1, sizeof *pool);
    pthread_t *workers = calloc((size_t)threads, sizeof(pthread_t));
    if (!pool || !workers) { free(pool); free(workers); return NULL; }
    pool->threads = threads;
    pool->workers = workers;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->job_posted, NULL);
    pthread_cond_init(&pool->job_finished, NULL);
    for (int32_t w = 1; w < threads; w++) {
        struct worker_start *start = malloc(sizeof *start);
        if (start) *start = (struct worker_start){pool, w};
        if (!start || pthread_create(&workers[w - 1], NULL, worker_main, start) != 0) {
            free(start);
            pool->threads = w;  // stop and join the workers started so far
            eq_thread_pool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void eq_thread_pool_destroy(eq_thread_pool *pool) {
    if (!pool) return;
    atomic_store(&pool->stopping, true);
    post(pool);
    for (int32_t w = 1; w < pool->threads; w++) pthread_join(pool->workers[w - 1], NULL);
    pthread_cond_destroy(&pool->job_finished);
    pthread_cond_destroy(&pool->job_posted);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool);
}

void eq_parallel_for(eq_thread_pool *pool, int64_t count, eq_range_body body, void *context) {
    if (pool->threads == 1 || count <= 1) {
        if (count > 0) body(context, 0, count, 0);
        return;
    }
    pool->body = body;
    pool->context = context;
    pool->count = count;
    atomic_store(&pool->finished, 0);
    uint64_t generation = atomic_load(&pool->generation) + 1;
    atomic_store(&pool->taken, tag(generation) | 1);  // share 0 is the caller's; before anyone sees the job
    post(pool);
    run_share(pool, 0, 0);
    // A worker that is running has taken its share by now (it polls for jobs, and the caller's own share took
    // longer than noticing one): the shares left are those of late workers. (Waiting some microseconds more
    // before taking them measured no faster with 2 threads on 2 idle cores, and slower with 3.)
    for (int32_t share = 1; share < pool->threads; share++) {
        if (take(pool, generation, share)) run_share(pool, share, 0);
    }
    for (int poll = 0; keep_polling(poll); poll++) {
        if (atomic_load_explicit(&pool->finished, memory_order_acquire) == pool->threads) return;
    }
    pthread_mutex_lock(&pool->mutex);
    while (atomic_load(&pool->finished) != pool->threads) pthread_cond_wait(&pool->job_finished, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
}
