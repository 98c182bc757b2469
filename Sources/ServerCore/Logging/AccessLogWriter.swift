import CSupport

/// Renders one access log line per request from a compiled format and
/// writes it with one write(2). Every byte that comes from the client (the
/// request line, header values) is escaped (`LogEscape.access`).
public final class AccessLogWriter {
    let format: AccessLogFormat
    let file: LogFile
    var line: [UInt8] = []
    let generation: String
    let pid: String
    let worker: String

    public init(format: AccessLogFormat, file: LogFile, identity: WorkerIdentity) {
        self.format = format
        self.file = file
        generation = String(identity.generation)
        pid = String(identity.pid)
        worker = String(identity.id)
        line.reserveCapacity(512)
    }

    /// Another writer to the same file, for another thread (each renders
    /// into its own line buffer; each line is one write(2)).
    public func copy() -> AccessLogWriter {
        AccessLogWriter(format: format, file: file, generation: generation, pid: pid, worker: worker)
    }

    private init(format: AccessLogFormat, file: LogFile, generation: String, pid: String, worker: String) {
        self.format = format
        self.file = file
        self.generation = generation
        self.pid = pid
        self.worker = worker
        line.reserveCapacity(512)
    }

    func write(_ ctx: RequestContext, durationNs: UInt64) {
        guard file.isEnabled else { return }
        if file.format == .json { return writeJSON(ctx, durationNs: durationNs) }
        line.removeAll(keepingCapacity: true)
        if file.isJournal { line += Array("<6>".utf8) }
        let buf = ctx.connection.buffer
        let h = ctx.head
        func bytes(_ start: Int, _ n: Int) { LogEscape.access.append(UnsafeBufferPointer(start: buf + start, count: n), to: &line) }
        func text(_ s: String) { line.append(contentsOf: s.utf8) }
        func header(_ name: StaticString) {
            if ctx.connection.conformance.fieldSource == .variables {
                // uwsgi, SCGI: the header as the proxy passed it, HTTP_NAME.
                if let v = ctx.proxiedHeader(name) { bytes(v.value, v.valueLength) } else { text("-") }
            } else if let f = field(h, UnsafePointer(buf), name) { bytes(f.value, f.valueLength) } else { text("-") }
        }
        for segment in format.segments {
            switch segment {
            case .literal(let l): line.append(contentsOf: l)
            case .variable(let v):
                switch v {
                case .remote_addr:
                    text(ctx.proxiedClient ?? ctx.connection.peerAddress?.host ?? "unix")
                case .time_local:
                    var d = [CChar](repeating: 0, count: 32)
                    gw_clf_date(&d)
                    text(String(cString: d))
                case .request:
                    if let raw = ctx.rejectedLine {
                        raw.withUnsafeBufferPointer { LogEscape.access.append($0, to: &line) }
                    } else {
                        bytes(h.method, h.methodLength); text(" "); bytes(h.target, h.targetLength)
                        text(h.version == .http11 ? " HTTP/1.1" : " HTTP/1.0")
                    }
                case .status: text(String(ctx.status))
                case .body_bytes_sent: text(String(ctx.bodySent))
                case .http_referer: header("referer")
                case .http_user_agent: header("user-agent")
                case .http_host: header("host")
                case .request_time_us: text(String(durationNs / 1000))
                case .request_time:
                    let ms = durationNs / 1_000_000
                    text("\(ms / 1000).\(String(ms % 1000 + 1000).dropFirst())")
                case .pid: text(pid)
                case .generation: text(generation)
                case .worker: text(worker)
                case .method: if h.methodLength > 0 { bytes(h.method, h.methodLength) } else { text("-") }
                case .path: if ctx.rejectedLine == nil { bytes(h.path, h.pathLength) } else { text("-") }
                case .query: if h.query >= 0 && ctx.rejectedLine == nil { bytes(h.query, h.queryLength) } else { text("-") }
                }
            }
        }
        line.append(0x0A)
        line.withUnsafeBytes { file.write($0.baseAddress!, $0.count) }
    }

    /// The first field named `name` (lowercase), as nginx's $http_NAME.
    func field(_ h: RequestHead, _ buf: UnsafePointer<UInt8>, _ name: StaticString) -> RequestHead.Field? {
        let n = name.utf8CodeUnitCount
        for i in 0..<h.fieldCount where h.fields[i].nameLength == n && HeadParser.equalsLower(buf, h.fields[i].name, n, name) {
            return h.fields[i]
        }
        return nil
    }
}
