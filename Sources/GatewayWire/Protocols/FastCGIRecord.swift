/// FastCGI 1.0 records (fastcgi-archives.github.io, "FastCGI Specification"
/// §3.3, §8): an 8-byte header (version 1, type, request id and content
/// length big-endian, padding length, a reserved byte), the content, the
/// padding. The constants, the header as read, and the records the server
/// writes. Pure: bytes in, bytes out.
public enum FastCGIRecord {
    public static let headerSize = 8
    public static let version: UInt8 = 1
    /// The largest STDOUT content we write: the largest multiple of 8 a
    /// record can carry (65535 is the limit), so no padding is needed.
    public static let maxContent = 65528

    public enum RecordType: UInt8 {
        case beginRequest = 1, abortRequest = 2, endRequest = 3, params = 4, stdin = 5
        case stdout = 6, stderr = 7, data = 8, getValues = 9, getValuesResult = 10, unknownType = 11
    }

    public static let roleResponder = 1
    public static let keepConn: UInt8 = 1

    /// END_REQUEST's protocolStatus.
    public enum ProtocolStatus: UInt8 {
        case requestComplete = 0, cantMultiplex = 1, overloaded = 2, unknownRole = 3
    }

    public struct Header: Equatable {
        public var version: UInt8
        public var type: UInt8
        public var requestId: UInt16
        public var contentLength: Int
        public var paddingLength: Int

        /// The whole record: header, content, padding.
        public var size: Int { FastCGIRecord.headerSize + contentLength + paddingLength }

        @inline(__always)
        public init(_ p: UnsafePointer<UInt8>) {
            version = p[0]
            type = p[1]
            requestId = UInt16(p[2]) << 8 | UInt16(p[3])
            contentLength = Int(p[4]) << 8 | Int(p[5])
            paddingLength = Int(p[6])
        }
    }

    /// A record header for `contentLength` bytes, padded to a multiple of 8.
    @inline(__always)
    public static func writeHeader(_ o: UnsafeMutablePointer<UInt8>, type: RecordType, requestId: UInt16, contentLength: Int) {
        o[0] = version
        o[1] = type.rawValue
        o[2] = UInt8(requestId >> 8); o[3] = UInt8(requestId & 0xFF)
        o[4] = UInt8(contentLength >> 8); o[5] = UInt8(contentLength & 0xFF)
        o[6] = UInt8(padding(contentLength))
        o[7] = 0
    }

    @inline(__always)
    public static func padding(_ contentLength: Int) -> Int { (8 - contentLength & 7) & 7 }

    /// A whole record around `content`.
    public static func record(_ type: RecordType, _ requestId: UInt16, _ content: [UInt8]) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: headerSize)
        h.withUnsafeMutableBufferPointer { writeHeader($0.baseAddress!, type: type, requestId: requestId, contentLength: content.count) }
        return h + content + [UInt8](repeating: 0, count: padding(content.count))
    }

    /// The empty STDOUT that ends the stream, then END_REQUEST.
    public static func endRequest(_ requestId: UInt16, appStatus: UInt32 = 0,
                                  _ status: ProtocolStatus = .requestComplete, closingStdout: Bool = true) -> [UInt8] {
        let body: [UInt8] = [UInt8(appStatus >> 24), UInt8(appStatus >> 16 & 0xFF), UInt8(appStatus >> 8 & 0xFF),
                             UInt8(appStatus & 0xFF), status.rawValue, 0, 0, 0]
        return (closingStdout ? record(.stdout, requestId, []) : []) + record(.endRequest, requestId, body)
    }

    /// UNKNOWN_TYPE for a management record of type `type`.
    public static func unknownType(_ type: UInt8) -> [UInt8] {
        record(.unknownType, 0, [type, 0, 0, 0, 0, 0, 0, 0])
    }

    /// What the server can take, for GET_VALUES: each worker serves one
    /// request at a time (FCGI_MAX_REQS is the number of workers) and holds
    /// up to worker_connections connections (FCGI_MAX_CONNS).
    public struct Capacity: Equatable, Sendable {
        public var maxConns: Int
        public var maxReqs: Int

        public init(workers: Int = 1, connectionsPerWorker: Int = 1000) {
            maxReqs = max(workers, 1)
            maxConns = maxReqs * max(connectionsPerWorker, 1)
        }
    }

    /// GET_VALUES_RESULT for the names asked (`names`: nil answers all we
    /// know): the capacity, and no multiplexing.
    public static func valuesResult(_ names: [[UInt8]]?, _ capacity: Capacity) -> [UInt8] {
        let values = [("FCGI_MAX_CONNS", String(capacity.maxConns)), ("FCGI_MAX_REQS", String(capacity.maxReqs)),
                      ("FCGI_MPXS_CONNS", "0")]
        var content: [UInt8] = []
        for (name, value) in values where names == nil || names!.contains(Array(name.utf8)) {
            content += pair(Array(name.utf8), Array(value.utf8))
        }
        return record(.getValuesResult, 0, content)
    }

    /// A name-value pair (§3.4): 1-byte lengths below 128, 4-byte ones with the high bit set.
    public static func pair(_ name: [UInt8], _ value: [UInt8]) -> [UInt8] {
        func length(_ n: Int) -> [UInt8] {
            n < 128 ? [UInt8(n)] : [UInt8(n >> 24 | 0x80), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        }
        return length(name.count) + length(value.count) + name + value
    }

    /// A response made elsewhere (the master's 504) as FastCGI: STDOUT
    /// records, the empty STDOUT, END_REQUEST.
    public static func wrap(_ response: [UInt8], requestId: UInt16) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < response.count {
            let n = min(maxContent, response.count - i)
            out += record(.stdout, requestId, Array(response[i..<i + n]))
            i += n
        }
        return out + endRequest(requestId)
    }
}
