import CSupport
import ServerCore
import Testing
@testable import WorkerPool

@Suite struct AdminRequestParsing {
    func parse(_ s: String) -> AdminRequest.Parsed { AdminRequest.parse(Array(s.utf8)) }

    @Test func getWithQueryAndAccept() {
        let p = parse("GET /metrics?x=1&fast HTTP/1.1\r\nHost: a\r\nAccept: application/openmetrics-text\r\n\r\n")
        #expect(p == .request(AdminRequest(method: "GET", path: "/metrics", query: ["x": "1", "fast": ""],
                                           accept: "application/openmetrics-text"), bodyLength: 0))
    }

    @Test func incompleteUntilTheBlankLine() {
        #expect(parse("GET /status HTTP/1.1\r\nHost: a\r\n") == .incomplete)
        #expect(parse("") == .incomplete)
    }

    @Test func postBodyLengthIsReported() {
        guard case let .request(r, n) = parse("POST /scale?workers=3 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello") else {
            Issue.record("not parsed"); return
        }
        #expect(r.method == "POST" && r.path == "/scale" && r.query["workers"] == "3" && n == 5)
    }

    /// Refused by the server's parser (its status and reason), or by the
    /// admin listener's own limits (no chunked body, 4 KiB of body).
    @Test func refusals() {
        #expect(parse("GET /status\r\n\r\n") == .invalid(status: 400, reason: "invalid request target"))
        #expect(parse("GET status HTTP/1.1\r\n\r\n") == .invalid(status: 400, reason: "invalid request target"))
        #expect(parse("GET / HTTP/1.1\r\nno colon\r\n\r\n") == .invalid(status: 400, reason: "whitespace between a header field name and the colon"))
        #expect(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == .invalid(status: 400, reason: "Transfer-Encoding is not accepted here"))
        #expect(parse("POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n") == .invalid(status: 413, reason: "body over 4096 bytes"))
        #expect(parse("GET /" + String(repeating: "a", count: 9000)) == .invalid(status: 414, reason: "request line too long"))
        #expect(parse("GET / HTTP/1.1\r\n" + String(repeating: "X-A: " + String(repeating: "a", count: 1000) + "\r\n", count: 9)) == .invalid(status: 431, reason: "request head over 8192 bytes"))
    }

    /// The one rule of the server's the admin listener does not apply: it
    /// serves only itself, so an HTTP/1.1 request typed by hand needs no Host.
    @Test func anHTTP11RequestWithoutHostIsServed() {
        #expect(parse("GET /livez HTTP/1.1\r\n\r\n") == .request(AdminRequest(method: "GET", path: "/livez", query: [:], accept: ""), bodyLength: 0))
    }

    /// Issue 25 (the design): control replies are built with the JSON type,
    /// not escaped by hand; the status line's phrase is the server's table.
    @Test func outcomesAreJSONObjects() {
        #expect(AdminReply.outcome(409, "refused", reason: "not \"running\"\n") ==
                .respond(status: 409, contentType: "application/json", body: "{\"result\":\"refused\",\"reason\":\"not \\\"running\\\"\\n\"}\n"))
        #expect(AdminReply.outcome(200, "done", [("workers", .int(3)), ("fast", .bool(false))]) ==
                .respond(status: 200, contentType: "application/json", body: "{\"result\":\"done\",\"workers\":3,\"fast\":false}\n"))
        let b = String(decoding: AdminReply.bytes(status: 413, contentType: "text/plain", body: ""), as: UTF8.self)
        #expect(b.hasPrefix("HTTP/1.1 413 \(StatusPhrase.text(413))\r\n"))
    }

    @Test func responseBytes() {
        let b = String(decoding: AdminReply.bytes(status: 503, contentType: "text/plain", body: "no\n"), as: UTF8.self)
        #expect(b.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(b.contains("Content-Length: 3\r\n") && b.hasSuffix("\r\n\r\nno\n"))
        let head = AdminReply.bytes(status: 200, contentType: "text/plain", body: "abc", head: true)
        #expect(String(decoding: head, as: UTF8.self).hasSuffix("Content-Length: 3\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"))
    }
}

@Suite struct Exposition {
    func snapshot() -> MetricsSnapshot {
        var m = MetricsSnapshot()
        m.totals.statusClasses = [0, 0, 7, 0, 2, 1]
        m.totals.durations = [3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]
        m.totals.durationSumNs = 1_500_000_000
        m.totals.bytesIn = 100
        m.totals.bytesOut = 2000
        m.inFlight = 1
        m.workers = ["booting": 0, "idle": 1, "busy": 1, "stopping": 0]
        m.restarts["crash"] = 2
        m.generation = 3
        m.queues = [.init(listener: "unix:/run/a \"b\".sock", length: 4, max: 64)]
        m.memory = [.init(pid: 42, ussBytes: 1024, pssBytes: 2048)]
        m.startTime = 1_700_000_000
        m.version = "1.2.3"
        return m
    }

    @Test func textFormat() {
        let t = MetricsExposition.render(snapshot(), openMetrics: false)
        #expect(t.contains("# TYPE gatewayd_requests_total counter\n"))
        #expect(t.contains("gatewayd_requests_total{status_class=\"2xx\"} 7\n"))
        #expect(t.contains("gatewayd_requests_total{status_class=\"5xx\"} 1\n"))
        #expect(!t.contains("status_class=\"0xx\""))
        #expect(t.contains("# TYPE gatewayd_request_duration_seconds histogram\n"))
        #expect(t.contains("gatewayd_request_duration_seconds_bucket{le=\"0.005\"} 3\n"))
        #expect(t.contains("gatewayd_request_duration_seconds_bucket{le=\"0.01\"} 5\n"))
        #expect(t.contains("gatewayd_request_duration_seconds_bucket{le=\"10\"} 5\n"))
        #expect(t.contains("gatewayd_request_duration_seconds_bucket{le=\"+Inf\"} 10\n"))
        #expect(t.contains("gatewayd_request_duration_seconds_sum 1.5\n"))
        #expect(t.contains("gatewayd_request_duration_seconds_count 10\n"))
        #expect(t.contains("gatewayd_worker_restarts_total{reason=\"crash\"} 2\n"))
        #expect(t.contains("gatewayd_worker_restarts_total{reason=\"max_requests\"} 0\n"))
        #expect(t.contains("gatewayd_listen_queue_length{listener=\"unix:/run/a \\\"b\\\".sock\"} 4\n"))
        #expect(t.contains("gatewayd_worker_memory_bytes{worker=\"42\",kind=\"pss\"} 2048\n"))
        #expect(t.contains("gatewayd_generation 3\n"))
        #expect(t.contains("gatewayd_start_time_seconds 1700000000\n"))
        #expect(t.contains("gatewayd_build_info{version=\"1.2.3\"} 1\n"))
        #expect(!t.contains("# EOF"))
        // every family is announced once, before its samples
        let types = t.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        #expect(Set(types).count == types.count)
    }

    @Test func openMetricsNamesCounterFamiliesWithoutTotalAndEnds() {
        let t = MetricsExposition.render(snapshot(), openMetrics: true)
        #expect(t.contains("# TYPE gatewayd_requests counter\n"))
        #expect(t.contains("gatewayd_requests_total{status_class=\"2xx\"} 7\n"))
        #expect(t.hasSuffix("# EOF\n"))
        #expect(MetricsExposition.wantsOpenMetrics(accept: "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"))
        #expect(!MetricsExposition.wantsOpenMetrics(accept: "text/plain"))
    }

    /// RFC 9110 12.4.2: q=0 means not acceptable; the higher weight wins.
    @Test func openMetricsIsNotSentWhenItsWeightIsZeroOrLower() {
        #expect(!MetricsExposition.wantsOpenMetrics(accept: "text/plain, application/openmetrics-text;q=0"))
        #expect(!MetricsExposition.wantsOpenMetrics(accept: "application/openmetrics-text; q=0.0"))
        #expect(!MetricsExposition.wantsOpenMetrics(accept: "application/openmetrics-text;q=0.2, text/plain;q=0.9"))
        #expect(MetricsExposition.wantsOpenMetrics(accept: "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"))
        #expect(MetricsExposition.wantsOpenMetrics(accept: "Application/OpenMetrics-Text"))
    }

    /// Issue 25: a timed-out worker stopped by the master exits 0; its
    /// last_exit says it timed out, not "exited with code 0".
    @Test func lastExitOfATimedOutWorkerSaysSo() {
        typealias Exit = Supervisor.Slot.Exit
        #expect(Exit(status: ExitStatus(code: 0), leave: .timeout).description == "timed out: stopped by the master")
        #expect(Exit(status: ExitStatus(code: nil, signal: Signals.kill), leave: .timeout).description == "timed out: was killed by SIGKILL")
        #expect(Exit(status: ExitStatus(code: 0), leave: nil).description == "exited with code 0")
        #expect(Exit(status: ExitStatus(code: 0), leave: .reload).description == "exited with code 0")
    }

    /// gatewayd_worker_restarts_total's reason, from why the worker was asked to leave.
    @Test func restartReasonComesFromWhyTheWorkerWasAskedToLeave() {
        #expect(Arbiter.restartReason(nil, announced: .none) == .crash)
        #expect(Arbiter.restartReason(.timeout, announced: .maxRequests) == .timeout)
        #expect(Arbiter.restartReason(.recycle(.maxRequests), announced: .maxRequests) == .maxRequests)
        #expect(Arbiter.restartReason(.recycle(.memoryLimit), announced: .memoryLimit) == .memory)
        #expect(Arbiter.restartReason(.reload, announced: .maxRequests) == .maxRequests)
        #expect(Arbiter.restartReason(.reload, announced: .none) == .reload)
        #expect(Arbiter.restartReason(.scaleDown, announced: .shutdown) == .scale)
        #expect(Arbiter.restartReason(.memory, announced: .none) == .memory)
    }

    @Test func labelEscaping() {
        #expect(MetricsExposition.escape("a\\b\"c\nd") == "a\\\\b\\\"c\\nd")
        #expect(JSON.quote("a\"\u{1}\n") == "\"a\\\"\\u0001\\n\"")
    }

    @Test func countersFoldAcrossWorkers() {
        var total = ScoreCounters()
        var a = ScoreCounters()
        a.requests = 5
        a.statusClasses[2] = 5
        total.add(a, since: ScoreCounters())
        var later = a
        later.requests = 8
        later.statusClasses[2] = 8
        total.add(later, since: a)
        #expect(total.requests == 8 && total.statusClasses[2] == 8)
    }

    @Test func signalsAreTheCatchList() {
        #expect(MasterSignal.allCases.count == 11)
        for s in MasterSignal.allCases { #expect(MasterSignal(number: s.number) == s) }
        #expect(MasterSignal(number: Signals.kill) == nil)
    }
}

@Suite struct ThreadsExposition {
    @Test func threadsQueueAndQueueWaitAreExposed() {
        var m = MetricsSnapshot()
        m.threadsTotal = 8
        m.threadsBusy = 5
        m.inFlight = 5
        m.queuedRequests = 3
        m.totals.queueWaitCounts = [4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        m.totals.queueWaitSumNs = 12_250_000_000
        let t = MetricsExposition.render(m, openMetrics: false)
        #expect(t.contains("# TYPE gatewayd_app_threads gauge\ngatewayd_app_threads 8\n"))
        #expect(t.contains("# TYPE gatewayd_app_threads_busy gauge\ngatewayd_app_threads_busy 5\n"))
        #expect(t.contains("gatewayd_requests_in_flight 5\n"))
        #expect(t.contains("# TYPE gatewayd_requests_queued gauge\ngatewayd_requests_queued 3\n"))
        #expect(t.contains("# TYPE gatewayd_request_queue_wait_seconds histogram\n"))
        #expect(t.contains("gatewayd_request_queue_wait_seconds_bucket{le=\"0.005\"} 4\n"))
        #expect(t.contains("gatewayd_request_queue_wait_seconds_bucket{le=\"0.01\"} 5\n"))
        #expect(t.contains("gatewayd_request_queue_wait_seconds_bucket{le=\"+Inf\"} 6\n"))
        #expect(t.contains("gatewayd_request_queue_wait_seconds_sum 12.25\n"))
        #expect(t.contains("gatewayd_request_queue_wait_seconds_count 6\n"))
        let types = t.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        #expect(Set(types).count == types.count)
    }

    @Test func aWorkersCountersAreTheSumOfItsSlots() {
        var a = gw_score_slot(), b = gw_score_slot()
        a.requests = 3; a.bytes_out = 100; a.status_classes.2 = 3; a.duration_counts.0 = 3
        b.requests = 2; b.bytes_out = 50; b.status_classes.5 = 2; b.duration_counts.11 = 2; b.shed = 1
        a.queue_waits = 4; a.queue_wait_sum_ns = 9; a.queue_wait_counts.1 = 4
        let c = ScoreCounters(slots: [a, b])
        #expect(c.requests == 5 && c.bytesOut == 150 && c.shed == 1)
        #expect(c.statusClasses == [0, 0, 3, 0, 0, 2])
        #expect(c.durations[0] == 3 && c.durations[11] == 2)
        #expect(c.queueWaits == 4 && c.queueWaitSumNs == 9 && c.queueWaitCounts[1] == 4)
    }
}
