/// The exit-code contract between a worker and the master (as Gunicorn's
/// WORKER_BOOT_ERROR and APP_LOAD_ERROR): a worker that cannot boot says so
/// in its exit code, so the master halts at start-up instead of respawning.
public enum WorkerExit {
    /// A normal exit (shutdown, max_requests, memory limit, master gone).
    public static let ok: Int32 = 0
    /// The app could not be loaded or its init failed.
    public static let appLoadFailed: Int32 = 3
    /// The worker could not set itself up (privileges, epoll, ...).
    public static let bootFailed: Int32 = 4
}
