import CEdgeQPlatform
import EdgeQ

/// The runtime's `ParallelExecutor` over the C shim's pthread pool (thread_pool.c): `workerCount` threads,
/// the calling one included, sharing the work items of each step in `workerCount` contiguous ranges.
public final class ThreadPool: ParallelExecutor {
    /// Most threads `--threads` accepts (the C pool's limit): more than any board EdgeQ targets has cores.
    public static let maximumThreads = Int(EQ_THREAD_POOL_MAX_THREADS)

    public let workerCount: Int
    private let pool: OpaquePointer
    /// The body of the running `parallelFor`, for the C callback; read by every worker, written only while
    /// no worker runs.
    private var body: ((Range<Int>, Int) -> Void)? = nil

    public init(threads: Int) throws(EdgeQError) {
        guard let pool = eq_thread_pool_create(Int32(threads)) else {
            throw EdgeQError(.io, "cannot start " + String(threads) + " threads")
        }
        self.pool = pool
        workerCount = threads
    }

    deinit { eq_thread_pool_destroy(pool) }

    public func parallelFor(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            self.body = body
            eq_parallel_for(pool, Int64(count), { context, begin, end, worker in
                let pool = Unmanaged<ThreadPool>.fromOpaque(context!).takeUnretainedValue()
                pool.body!(Int(begin)..<Int(end), Int(worker))
            }, Unmanaged.passUnretained(self).toOpaque())
            self.body = nil
        }
    }
}
