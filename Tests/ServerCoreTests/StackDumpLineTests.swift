#if canImport(Glibc)
import Glibc
#endif
import CSupport
import Testing

/// The stack-dump handler's lines carry the worker's `gen` key like its
/// other lines (issue 25), in both log formats.
@Suite(.serialized) struct StackDumpLineTests {
    func dumpLines(mode: Int32, threads: [UnsafeMutablePointer<gw_score_slot>?] = []) throws -> [String] {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        #expect(gw_stack_install(nil, fds[1], mode, nil) == 0)
        gw_stack_set_field("gen", "7")
        threads.withUnsafeBufferPointer { gw_stack_set_threads($0.baseAddress, Int32($0.count)) }
        defer { gw_stack_set_threads(nil, 0) }
        gw_stack_dump(Int32(GW_DUMP_ON_DEMAND))
        gw_stack_set_log(-1, mode)
        close(fds[1])
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            data += buf[0..<n]
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func textLinesEndWithTheGenKey() throws {
        let lines = try dumpLines(mode: Int32(GW_LOG_TEXT))
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(line.contains("stack: ") && line.hasSuffix(" gen=7"), "\(line)")
        }
    }

    @Test func jsonLinesHaveTheGenKey() throws {
        let lines = try dumpLines(mode: Int32(GW_LOG_JSON))
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(line.hasSuffix(",\"gen\":\"7\"}"), "\(line)")
        }
    }

    /// threads > 1: the dump runs on the stuck app thread (tgkill) and names it first.
    @Test func aDumpOnAnAppThreadNamesItsIndex() throws {
        let slots = (0..<4).map { i -> UnsafeMutablePointer<gw_score_slot> in
            let p = UnsafeMutablePointer<gw_score_slot>.allocate(capacity: 1)
            p.initialize(to: gw_score_slot())
            p.pointee.thread_index = Int32(i)
            p.pointee.tid = 1   // no thread of ours
            return p
        }
        defer { for p in slots { p.deallocate() } }
        // gettid() without a Swift wrapper: /proc/thread-self is PID/task/TID
        var link = [CChar](repeating: 0, count: 64)
        try #require(readlink("/proc/thread-self", &link, 63) > 0)
        let tid = try #require(Int32(String(cString: link).split(separator: "/").last ?? ""))
        slots[2].pointee.tid = tid
        let lines = try dumpLines(mode: Int32(GW_LOG_TEXT), threads: slots)
        #expect(lines.first?.contains("stack: app thread 2 of 4 (tid \(tid)): gen=7") == true, "\(lines.first ?? "")")
        slots[2].pointee.tid = 1
        let other = try dumpLines(mode: Int32(GW_LOG_TEXT), threads: slots)
        #expect(other.first?.contains("app thread") == false, "no header on a thread that is no app thread")
    }
}
