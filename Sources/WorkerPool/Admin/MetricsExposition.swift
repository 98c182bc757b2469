/// The Prometheus text exposition format (version 0.0.4), or OpenMetrics
/// 1.0 when the scraper asks for it. Written by hand: the values are the
/// master's own totals, set in one pass from the scoreboard, which client
/// libraries' increment-only counters and locked registries do not fit.
struct MetricsExposition {
    static let textType = "text/plain; version=0.0.4; charset=utf-8"
    static let openMetricsType = "application/openmetrics-text; version=1.0.0; charset=utf-8"

    let openMetrics: Bool
    private(set) var out = ""

    init(openMetrics: Bool) { self.openMetrics = openMetrics }

    /// Whether an Accept header asks for OpenMetrics.
    /// OpenMetrics when the client weighs it above zero and no lower than
    /// the text format (RFC 9110 12.4.2: q=0 means not acceptable).
    static func wantsOpenMetrics(accept: String) -> Bool {
        var om = 0.0, text = 0.0
        for element in accept.lowercased().split(separator: ",") {
            let params = element.split(separator: ";").map { String($0).trimmingCharacters() }
            guard let type = params.first else { continue }
            var q = 1.0
            for p in params.dropFirst() where p.hasPrefix("q=") { q = Double(p.dropFirst(2)) ?? 0 }
            if type == "application/openmetrics-text" { om = max(om, q) }
            if type == "text/plain" || type == "text/*" || type == "*/*" { text = max(text, q) }
        }
        return om > 0 && om >= text
    }

    static func render(_ m: MetricsSnapshot, openMetrics: Bool) -> String {
        var e = MetricsExposition(openMetrics: openMetrics)
        e.write(m)
        if openMetrics { e.out += "# EOF\n" }
        return e.out
    }

    mutating func write(_ m: MetricsSnapshot) {
        family("gatewayd_requests_total", "counter", "Requests answered by the workers, by status class.")
        for (i, n) in m.totals.statusClasses.enumerated() where i > 0 {
            sample("gatewayd_requests_total", [("status_class", "\(i)xx")], n)
        }
        family("gatewayd_request_duration_seconds", "histogram", "Time from the parsed request head to the end of the response.")
        histogram("gatewayd_request_duration_seconds", m.totals.durations, sumNs: m.totals.durationSumNs)
        counter("gatewayd_request_bytes_total", "Request body bytes read.", m.totals.bytesIn)
        counter("gatewayd_response_bytes_total", "Response bytes sent (head and body).", m.totals.bytesOut)
        gauge("gatewayd_requests_in_flight", "Requests being served now.", UInt64(m.inFlight))
        gauge("gatewayd_app_threads", "App threads of the ready workers (threads per worker).", UInt64(m.threadsTotal))
        gauge("gatewayd_app_threads_busy", "App threads serving a request now.", UInt64(m.threadsBusy))
        gauge("gatewayd_requests_queued", "Complete requests waiting in a worker for an app thread.", m.queuedRequests)
        family("gatewayd_request_queue_wait_seconds", "histogram", "Time a complete request waited in its worker for an app thread.")
        histogram("gatewayd_request_queue_wait_seconds", m.totals.queueWaitCounts, sumNs: m.totals.queueWaitSumNs)
        family("gatewayd_workers", "gauge", "Worker processes by state.")
        for state in ["booting", "idle", "busy", "stopping"] {
            sample("gatewayd_workers", [("state", state)], UInt64(m.workers[state] ?? 0))
        }
        family("gatewayd_worker_restarts_total", "counter", "Workers replaced, by reason.")
        for r in RestartReason.allCases { sample("gatewayd_worker_restarts_total", [("reason", r.rawValue)], m.restarts[r.rawValue] ?? 0) }
        gauge("gatewayd_workers_target", "Workers the master keeps now: workers, plus those demand added (max_workers).", UInt64(m.workersTarget))
        gauge("gatewayd_workers_max", "The most workers demand may add up to (max_workers; workers when 0).", UInt64(m.workersMax))
        family("gatewayd_worker_scaling_total", "counter", "Workers added (up) or retired (down) by demand (max_workers).")
        for d in ["up", "down"] { sample("gatewayd_worker_scaling_total", [("direction", d)], m.demandScaling[d] ?? 0) }
        counter("gatewayd_requests_shed_total", "Requests answered 503 before the app: they waited longer than max_queue_wait.", m.totals.shed)
        gauge("gatewayd_draining", "1 during drain_delay after SIGTERM (readiness fails, keep-alive connections close).", m.draining ? 1 : 0)
        counter("gatewayd_timeouts_total", "Requests that ran past timeout (answered 504 when nothing was sent).", m.timeouts)
        family("gatewayd_reloads_total", "counter", "Reloads, by outcome.")
        for r in ["promoted", "abandoned"] { sample("gatewayd_reloads_total", [("result", r)], m.reloads[r] ?? 0) }
        gauge("gatewayd_generation", "The serving generation (1 at start, +1 per reload).", UInt64(m.generation))
        family("gatewayd_listen_queue_length", "gauge", "Connections waiting in a listener's accept queue.")
        for q in m.queues { sample("gatewayd_listen_queue_length", [("listener", q.listener)], UInt64(q.length)) }
        family("gatewayd_listen_queue_max", "gauge", "The accept queue's limit (backlog).")
        for q in m.queues { sample("gatewayd_listen_queue_max", [("listener", q.listener)], UInt64(q.max)) }
        family("gatewayd_listen_queue_max_reached", "gauge", "The accept queue's high-water mark since the master started (PHP-FPM's max listen queue).")
        for q in m.queues { sample("gatewayd_listen_queue_max_reached", [("listener", q.listener)], UInt64(m.queueHighWater[q.listener] ?? q.length)) }
        counter("gatewayd_max_children_reached_total", "Times every worker was busy, connections waited and the pool was at max_workers (workers when 0).", m.maxChildrenReached)
        family("gatewayd_connections", "gauge", "Client connections held by the workers: reading a request, writing a response (the app's included), waiting (idle keep-alive).")
        for state in ["reading", "writing", "waiting"] { sample("gatewayd_connections", [("state", state)], m.connections[state] ?? 0) }
        family("gatewayd_worker_memory_bytes", "gauge", "Worker memory from its last heartbeat: unique (uss) and proportional (pss) set size.")
        for w in m.memory {
            sample("gatewayd_worker_memory_bytes", [("worker", "\(w.pid)"), ("kind", "uss")], w.ussBytes)
            sample("gatewayd_worker_memory_bytes", [("worker", "\(w.pid)"), ("kind", "pss")], w.pssBytes)
        }
        family("gatewayd_start_time_seconds", "gauge", "When the master started, in seconds since the epoch.")
        sample("gatewayd_start_time_seconds", [], Self.number(m.startTime))
        family("gatewayd_build_info", "gauge", "Always 1; the version is the label.")
        sample("gatewayd_build_info", [("version", m.version)], 1)
    }

    /// A histogram's samples over the duration buckets (its family line written).
    mutating func histogram(_ name: String, _ counts: [UInt64], sumNs: UInt64) {
        var cumulative: UInt64 = 0
        for (i, n) in counts.enumerated() {
            cumulative += n
            let le = i < ScoreCounters.bucketBounds.count ? Self.number(ScoreCounters.bucketBounds[i]) : "+Inf"
            sample("\(name)_bucket", [("le", le)], cumulative)
        }
        sample("\(name)_sum", [], Self.number(Double(sumNs) / 1e9))
        sample("\(name)_count", [], cumulative)
    }

    mutating func counter(_ name: String, _ help: String, _ value: UInt64) {
        family(name, "counter", help)
        sample(name, [], value)
    }

    mutating func gauge(_ name: String, _ help: String, _ value: UInt64) {
        family(name, "gauge", help)
        sample(name, [], value)
    }

    /// HELP and TYPE lines. OpenMetrics names a counter family without `_total`.
    mutating func family(_ name: String, _ type: String, _ help: String) {
        let family = openMetrics && type == "counter" && name.hasSuffix("_total") ? String(name.dropLast(6)) : name
        out += "# HELP \(family) \(help)\n# TYPE \(family) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        sample(name, labels, String(value))
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
        out += name
        if !labels.isEmpty {
            out += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        out += " \(value)\n"
    }

    /// Label values: backslash, double quote and line feed escaped.
    static func escape(_ s: String) -> String {
        var r = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": r += "\\\\"
            case "\"": r += "\\\""
            case "\n": r += "\\n"
            default: r.unicodeScalars.append(c)
            }
        }
        return r
    }

    static func number(_ d: Double) -> String {
        if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}
