#if canImport(Glibc)
import Glibc
#endif
import CGateway
import CSupport

/// How a worker's threads share the work. A worker runs `threads + 1`
/// threads over one epoll set, and at most `threads` of them are in the
/// app at once (the app slots), so one is always free to run the loop:
/// accept, read heads and bodies, time out idle connections, finish held
/// responses. Which thread plays the loop changes (leader/follower): the
/// thread that finds a request complete takes a free app slot and serves
/// it itself, and another thread, waiting in epoll, carries on with the
/// loop. So the common case (one request on a kept-alive connection) hands
/// nothing from one thread to another: no wake-up, no context switch, the
/// same system calls as one thread (epoll_wait, read, write). A request
/// that finds every app slot busy waits in `ready`, oldest first, and the
/// first thread to leave the app takes it; a thread that leaves requests
/// in `ready` with app slots free wakes another (the eventfd).
///
/// Everything shared (connections not with the app, the queue, the slots,
/// counts, the listeners' state) is touched with `lock` held, released
/// only around epoll_wait and the app's call. A connection with the app
/// (`.inApp`) belongs to its thread alone; connections are edge-triggered,
/// so the loop never spins on one it must not touch, and an event that
/// comes meanwhile is kept as `pendingInput`.
final class LoopThread {
    let index: Int
    let context: RequestContext
    let accessLog: AccessLogWriter?
    let datas: UnsafeMutablePointer<UInt64>
    let events: UnsafeMutablePointer<UInt32>
    /// Its kernel tid and pthread id, once it runs (the scoreboard; Python's thread ident).
    var tid: Int32 = 0
    var ident: UInt = 0
    /// When its epoll_wait returned (monotonic ns): what it finds complete
    /// in this batch became ready then (one clock read per wake-up).
    var wokeAt: UInt64 = 0

    static let batch: Int32 = 64

    init(index: Int, context: RequestContext, accessLog: AccessLogWriter?) {
        self.index = index
        self.context = context
        self.accessLog = accessLog
        datas = .allocate(capacity: Int(Self.batch))
        events = .allocate(capacity: Int(Self.batch))
    }
}

/// Connections whose request waits for an app thread, in two lanes: the
/// first requests of new connections (`fresh`) and requests on kept-alive
/// ones (`kept`). Each lane is in the order its requests became ready
/// (`Connection.readyAt`), so the longest waiter is one of the two heads,
/// and `WaitOrder` picks between them: about first come, first served
/// across the worker. (One lane would not do: a new connection taken from
/// the listen queue is dated back to when its request arrived there, so it
/// is often older than kept-alive requests queued before it was accepted.)
struct ReadyQueue {
    private var fresh = Ring()
    private var kept = Ring()

    var isEmpty: Bool { fresh.count == 0 && kept.count == 0 }
    var count: Int { fresh.count + kept.count }

    @inline(__always)
    mutating func append(_ c: Connection) {
        if c.requests == 0 { fresh.append(c) } else { kept.append(c) }
    }

    /// The next connection, unretained (the loop holds it in `connections`);
    /// `now` to weigh the heads' waits.
    @inline(__always)
    mutating func popFirst(now: UInt64) -> Unmanaged<Connection>? {
        guard let k = kept.first else { return fresh.popFirst() }
        guard let f = fresh.first else { return kept.popFirst() }
        let freshFirst = WaitOrder.freshGoesFirst(freshReadyAt: f.takeUnretainedValue().readyAt,
                                                  keptReadyAt: k.takeUnretainedValue().readyAt, now: now)
        return freshFirst ? fresh.popFirst() : kept.popFirst()
    }

    mutating func remove(_ c: Connection) {
        fresh.remove(c)
        kept.remove(c)
    }
}

/// Which of the two lanes' heads an app thread takes: the one that has
/// waited longer, except that a new connection's first request counts its
/// wait `freshWeight` times. Strict first come, first served would make a
/// new client wait as long as every kept-alive one (20 clients on one
/// thread with 50 ms requests: 1 s each, new or not); weighted, a client
/// that has had no answer yet goes ahead of kept-alive requests that have
/// waited less than twice as long as it has, and a kept-alive request is
/// passed over only by new ones that have waited at least half as long.
/// (Before, the lanes were taken in turn: that put a lane's requests
/// behind the other's however long they had waited, and a kept-alive
/// request waited up to twice the mean while the listen queue drained:
/// issue 23.)
enum WaitOrder {
    static let freshWeight: UInt64 = 2

    @inline(__always)
    static func freshGoesFirst(freshReadyAt fresh: UInt64, keptReadyAt kept: UInt64, now: UInt64) -> Bool {
        // `now` is the taking thread's last clock reading: another thread may have queued since.
        let freshWait = now > fresh ? now - fresh : 0
        let keptWait = now > kept ? now - kept : 0
        return freshWait &* freshWeight >= keptWait
    }

    /// When the request of a connection just taken from the listen queue
    /// became ready: when its last data arrived (TCP_INFO's
    /// tcpi_last_data_recv, `msSinceLastData` before `now`), which is
    /// its request's arrival behind TCP_DEFER_ACCEPT.
    @inline(__always)
    static func arrival(msSinceLastData ms: UInt64, now: UInt64) -> UInt64 {
        let age = ms &* 1_000_000
        return now > age ? now - age : 0
    }
}

/// A ring of connections that grows (never past the worker's connections)
/// and never shrinks; its capacity a power of two (an index is a mask). Unmanaged: `connections` keeps each one, and a
/// connection leaves the ring before it closes (RequestLoop.close), so the
/// ring costs no reference counting.
struct Ring {
    private var items: UnsafeMutablePointer<Unmanaged<Connection>?>
    private var capacity = 16
    private var head = 0
    private(set) var count = 0

    init() {
        items = .allocate(capacity: capacity)
        items.initialize(repeating: nil, count: capacity)
    }

    @inline(__always)
    mutating func append(_ c: Connection) {
        if count == capacity { grow() }
        items[(head + count) & (capacity - 1)] = Unmanaged.passUnretained(c)
        count += 1
    }

    @inline(never)
    private mutating func grow() {
        let grown = UnsafeMutablePointer<Unmanaged<Connection>?>.allocate(capacity: capacity * 2)
        grown.initialize(repeating: nil, count: capacity * 2)
        for i in 0..<count { grown[i] = items[(head + i) & (capacity - 1)] }
        items.deallocate()
        items = grown
        capacity *= 2
        head = 0
    }

    /// The first, left in the ring (nil when empty).
    @inline(__always)
    var first: Unmanaged<Connection>? { count > 0 ? items[head] : nil }

    @inline(__always)
    mutating func popFirst() -> Unmanaged<Connection>? {
        guard count > 0 else { return nil }
        let c = items[head]
        items[head] = nil
        head = (head + 1) & (capacity - 1)
        count -= 1
        return c
    }

    mutating func remove(_ c: Connection) {
        var kept = 0
        for i in 0..<count {
            let item = items[(head + i) & (capacity - 1)]
            if item?.toOpaque() == Unmanaged.passUnretained(c).toOpaque() { continue }
            items[(head + kept) & (capacity - 1)] = item
            kept += 1
        }
        for i in kept..<count { items[(head + i) & (capacity - 1)] = nil }
        count = kept
    }
}

/// The free app slots: a fixed stack (no array, so no uniqueness check or
/// reference counting per request); the most recently freed slot first,
/// whose scoreboard entry and thread are warm.
struct SlotStack {
    private let items: UnsafeMutablePointer<Int>
    private(set) var count: Int

    /// All of 0..<capacity free, 0 on top.
    init(capacity: Int) {
        items = .allocate(capacity: max(capacity, 1))
        for i in 0..<capacity { items[i] = capacity - 1 - i }
        count = capacity
    }

    var isEmpty: Bool { count == 0 }

    mutating func pop() -> Int? {
        guard count > 0 else { return nil }
        count -= 1
        return items[count]
    }

    mutating func push(_ slot: Int) {
        items[count] = slot
        count += 1
    }
}

extension RequestLoop {
    /// One thread's life, entered and left with `lock` held.
    func threadMain(_ t: LoopThread) {
        t.tid = Sys.threadID()
        t.ident = Sys.threadIdent()
        while !exiting {
            if parksSpareThreads && watching >= Self.watchers {
                park()
                continue
            }
            let waitMs = nextWait()
            watching += 1
            lock.unlock()
            var n = 0
            do {
                n = try Sys.epollWait(epoll, t.datas, t.events, max: LoopThread.batch, timeoutMs: waitMs)
            } catch {
                logger.error("worker loop failed: \(error)")
                lock.lock()
                watching -= 1
                enter(t)
                requestStop(.fast)
                // Every parked thread to the same end (threads[0], which
                // returns from run(), may be one of them).
                parking.unpark(Int32.max)
                break
            }
            lock.lock()
            watching -= 1
            enter(t)
            if exiting { break }
            t.wokeAt = Sys.monotonicNanos()
            handle(t, n)
            // The periodic work: at most once a second, or while stopping.
            if stopReason != nil || t.wokeAt &- lastTick >= 1_000_000_000 { housekeeping() }
            serveReady(t)
        }
    }

    /// How many threads wait in epoll at most; the others park. Two, as
    /// with `threads = 1`: one runs the loop while the other is in the
    /// app, and the one back from the app waits beside it.
    static let watchers = 2

    /// A spare thread (`watchers` others wait in epoll) sleeps until a
    /// thread going into the app leaves nobody in epoll, or the loop ends.
    /// Why: epoll wakes its waiters in turn, the one that has waited
    /// longest first; with every spare thread in epoll each event woke a
    /// cold thread, and a small app's requests passed from thread to thread
    /// (with Python, each pass a turn of the GIL as well). Parked, spare
    /// threads cost nothing until calls that wait need them.
    func park() {
        parkedThreads += 1
        let generation = parking.generation
        lock.unlock()
        parking.park(generation)
        lock.lock()
        parkedThreads -= 1
    }

    /// The thread now holding `lock`: the loop's code uses its context.
    @inline(__always)
    func enter(_ t: LoopThread) {
        current = t
        context = t.context
        accessLog = t.accessLog
    }

    /// What epoll returned: signals and the master first (a worker told to
    /// stop must not accept the connections that waited meanwhile), then
    /// listeners and connections.
    @inline(__always)
    func handle(_ t: LoopThread, _ n: Int) {
        let datas = t.datas
        for i in 0..<n where datas[i] & Self.controlTag != 0 {
            controls[Int(datas[i] & 0xFFFF_FFFF)].handler()
        }
        for i in 0..<n {
            let data = datas[i]
            if data & Self.listenerTag != 0 {
                if stopReason == nil { accept(listener: Int(data & 0xFFFF_FFFF)) }
            } else if data & (Self.controlTag | Self.wakeTag) == 0, Int(data) < connections.count, let c = connections[Int(data)] {
                readable(c)
            }
        }
    }

    /// A request is complete: to the queue, for the first free app slot.
    @inline(__always)
    func dispatch(_ c: Connection) {
        c.phase = .queued
        c.readyAt = current.wokeAt
        ready.append(c)
        publishQueued()
    }

    /// Serves what is in `ready` while an app slot is free: the app's call
    /// runs with `lock` released.
    @inline(__always)
    func serveReady(_ t: LoopThread) {
        guard !ready.isEmpty, let slot = freeAppSlots.pop() else { return }
        appBusy += 1
        while !exiting, let u = ready.popFirst(now: t.wokeAt) {
            let c = u.takeUnretainedValue()
            publishQueued()
            // More waiting and a slot free: another thread takes the next.
            if !ready.isEmpty && !freeAppSlots.isEmpty { Sys.signalEventFD(wakeFD) }
            guard prepare(c, t, slot: slot) else { continue }
            c.phase = .inApp
            // The loop never waits for the app: a parked thread takes the
            // place in epoll of the last one to go into the app (woken once
            // the lock is free, so that it does not wait for it).
            let wakeParked = watching == 0 && parkedThreads > 0
            lock.unlock()
            if wakeParked { parking.unpark() }
            let served = serve(c, t)
            lock.lock()
            enter(t)
            afterServe(c, served)
            if accepting == .saturated { acceptOnCompletion() }
        }
        appBusy -= 1
        freeAppSlots.push(slot)
        saturatedEvents = 0
        if accepting == .saturated && stopReason == nil { try? startListening() }
    }

    /// A request done while the listeners were out of epoll (every slot
    /// busy): one connection per listener from its queue (Puma's rule: no
    /// more, so this worker holds no more connections than it frees slots,
    /// and one that is idle takes the rest), so a new client is not starved
    /// by kept-alive ones that keep the slots busy. Its request waited in
    /// the listen queue: `dateFromListenQueue` gives it its place among the
    /// waiting ones (ReadyQueue).
    func acceptOnCompletion() {
        guard stopReason == nil, !Sys.listenersClosed else { return }
        for i in listeners.indices where connectionCount < settings.workerConnections {
            if let c = acceptOne(listener: i, readNow: true) { dateFromListenQueue(c) }
        }
    }

    /// A connection taken from a listen queue where it may have waited a
    /// while (the worker was not accepting, or missed its wake-up): its
    /// complete first request became ready when it arrived, not now, so it
    /// is served in its turn, and its wait counts for `max_queue_wait` and
    /// the queue-wait metric. Only when that matters (other requests wait
    /// in `ready`, or max_queue_wait is on): otherwise it is next anyway,
    /// and the system call is spared (a client that opens a connection per
    /// request would pay it on most). TCP only: a unix socket does not
    /// tell; the request counts from its accept, as it does when not dated.
    func dateFromListenQueue(_ c: Connection) {
        guard c.phase == .queued, c.requests == 0, ready.count > 1 || maxQueueWait > 0, !listeners[c.listener].isUnix,
              let ms = Sys.msSinceLastData(c.fd) else { return }
        c.readyAt = min(c.readyAt, WaitOrder.arrival(msSinceLastData: ms, now: Sys.monotonicNanos()))
    }

    /// Readies `t.context` for the request of `c` (with `lock` held): its
    /// head parsed into this thread's context unless it is there already
    /// (the common case: the thread that read it serves it), the app slot's
    /// scoreboard entry, whether the response must close the connection.
    /// False when the request was refused here (answered and closed).
    @inline(__always)
    func prepare(_ c: Connection, _ t: LoopThread, slot: Int) -> Bool {
        let ctx = t.context
        switch c.conformance.headDecoding {
        case .httpHead:
            if !ctx.holdsHead(of: c) {
                guard HeadParser.parse(UnsafePointer(c.buffer), start: c.requestStart, end: c.requestEnd,
                                       limits: limits, into: &ctx.head) == nil else { close(c); return false }
            }
            if c.continueSent {
                ctx.head.expectContinue = false  // sent already, when the body began to be held
                c.continueSent = false
            }
        case .variables(let packet):
            if !ctx.holdsHead(of: c) {
                guard case .complete = packet.decode(UnsafePointer(c.buffer), start: c.requestStart, end: c.requestEnd,
                                                     limits: ctx.protocolLimits, into: &ctx.vars),
                      ctx.headFromVars(UnsafePointer(c.buffer), end: c.requestEnd) == nil else { close(c); return false }
            }
        case .records:
            // The PARAMS are gathered in place once, here.
            let id = c.fastcgi.requestId
            if let e = FastCGIDecoder.gatherParams(c.buffer, start: c.requestStart, end: c.requestEnd, limits: ctx.protocolLimits,
                                                   into: &ctx.vars) ?? ctx.headFromVars(UnsafePointer(c.buffer), end: c.requestEnd) {
                c.phase = .open
                reject(c, e, requestId: id)
                return false
            }
            ctx.head.keepAlive = c.fastcgi.keepConn
        }
        ctx.headOf = nil
        ctx.scoreboard = slotScores[slot]
        if let s = ctx.scoreboard, s.pointee.tid != t.tid {
            s.pointee.tid = t.tid
            s.pointee.thread_index = Int32(slot)
        }
        // Connection: close on the response when the worker stops, recycles
        // at this request (max_requests), or drains (drain_delay: the master
        // set the flag; one load per request).
        ctx.stopping = stopReason != nil || (maxRequests > 0 && requestsServed + appBusy >= maxRequests)
            || (workerSlot.map { $0.pointee.draining != 0 } ?? false)
        return true
    }

    /// The wait of a request handed to an app thread (from complete to the
    /// app's call), for /metrics.
    @inline(__always)
    func noteQueueWait(_ c: Connection, started: UInt64) {
        guard let slot = workerSlot else { return }
        let waited = started > c.readyAt ? started - c.readyAt : 0
        slot.pointee.queue_waits &+= 1
        slot.pointee.queue_wait_sum_ns &+= waited
        var bucket = 0
        if waited > Self.firstBucketBound {
            while bucket < Int(GW_DURATION_BUCKETS) - 1 && waited > gwDurationBound(bucket) { bucket += 1 }
        }
        gw_score_queue_wait(slot, Int32(bucket))
    }

    /// How many complete requests wait for an app thread, for the master
    /// (status, metrics, demand): stored whenever `ready` changes.
    @inline(__always)
    func publishQueued() {
        workerSlot?.pointee.queued = UInt32(ready.count)
    }

    /// The worker's app threads, for the master (status, metrics): set once,
    /// the count does not change; busy ones are in their slots' state.
    func publishThreads() {
        guard let slot = workerSlot else { return }
        slot.pointee.threads = Int32(appThreads)
        slot.pointee.queued = UInt32(ready.count)
    }

    // MARK: timeouts of one thread's request (threads > 1)

    /// The master timed out a request of one of this worker's app threads
    /// (it answered 504 and set the slot's timeout_serial): interrupt it if
    /// the app can be (a Python app: `gateway_interrupt`), else, or if it
    /// does not come back, retire this worker gracefully: its other
    /// requests finish, new ones go to other workers.
    public func handleThreadTimeouts() {
        for (i, slot) in threadSlots.enumerated() {
            let serial = slot.pointee.timeout_serial
            guard serial != 0, serial == slot.pointee.request_serial, slot.pointee.state == Int32(GW_SCORE_BUSY) else { continue }
            slot.pointee.timeout_serial = 0
            let thread = threads.first { $0.tid == slot.pointee.tid }
            if let interrupt = AppInterrupt.function, let thread {
                let ident = thread.ident
                logger.warning("app thread \(i) timed out: interrupting it (the app's gateway_interrupt)")
                let grace = UInt64(Self.interruptGrace)
                try? Sys.spawnThread(name: "gatewayd-intr") { [self] in
                    _ = interrupt(ident)
                    Sys.sleep(micros: UInt32(grace * 1_000_000))
                    lock.lock()
                    if slot.pointee.request_serial == serial && slot.pointee.state == Int32(GW_SCORE_BUSY) && stopReason == nil {
                        logger.warning("app thread \(i) did not come back within \(grace) s of its interrupt: retiring this worker")
                        requestStop(.timedOut)
                    }
                    lock.unlock()
                }
            } else if stopReason == nil {
                logger.warning("app thread \(i) timed out: retiring this worker (its other requests finish)")
                requestStop(.timedOut)
            }
        }
    }

    /// The first duration bucket's bound (5 ms): most waits are under it.
    static let firstBucketBound: UInt64 = 5_000_000

    /// How long a thread interrupted after a timeout has to come back.
    static let interruptGrace = 2
}

/// The app's optional `gateway_interrupt(thread_id)` export (the WSGI
/// loader's): raises an exception in the app thread that timed out.
public enum AppInterrupt {
    public typealias Function = @convention(c) (UInt) -> Int32
    nonisolated(unsafe) public static var function: Function?
}

@inline(__always)
func gwDurationBound(_ i: Int) -> UInt64 {
    withUnsafePointer(to: gw_duration_bounds_ns) { $0.withMemoryRebound(to: UInt64.self, capacity: Int(GW_DURATION_BUCKETS) - 1) { $0[i] } }
}
