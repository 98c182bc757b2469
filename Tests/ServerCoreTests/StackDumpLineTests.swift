#if canImport(Glibc)
import Glibc
#endif
import CSupport
import Testing

/// The stack-dump handler's lines carry the worker's `gen` key like its
/// other lines (issue 25), in both log formats.
@Suite(.serialized) struct StackDumpLineTests {
    func dumpLines(mode: Int32) throws -> [String] {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        #expect(gw_stack_install(nil, fds[1], mode, nil) == 0)
        gw_stack_set_field("gen", "7")
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
}
