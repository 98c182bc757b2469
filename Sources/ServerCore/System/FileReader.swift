#if canImport(Glibc)
import Glibc
#endif

/// Reads small files (config, /proc) without Foundation.
public enum FileReader {
    public static func readText(_ path: String) throws -> String {
        let fd = try Sys.open(path, O_RDONLY)
        defer { Sys.close(fd) }
        var bytes: [UInt8] = []
        let chunk = 16384
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = try buffer.withUnsafeMutableBytes { p -> Int in
                guard let n = try Sys.read(fd, p.baseAddress!, chunk) else { return -1 }
                return n
            }
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
