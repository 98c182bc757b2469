#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Gateway

/// An app built as a shared library against gateway.h (C, C++, Rust, or a
/// Swift app exported with the SDK), loaded in process as a worker loads it:
/// dlopen, `gateway_app()`, the ABI check, `init` with the app_args, and
/// `shutdown` when the server goes.
final class NativeApp {
    let handle: UnsafeMutableRawPointer
    let descriptor: UnsafePointer<gateway_app_descriptor>
    let appData: UnsafeMutableRawPointer?

    init(path: String, arguments: [(String, String)], workerID: Int, threads: Int = 1) throws {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw NativeAppError(message: "dlopen(\(path)): \(String(cString: dlerror()))")
        }
        self.handle = handle
        guard let symbol = dlsym(handle, GATEWAY_APP_SYMBOL) else {
            dlclose(handle)
            throw NativeAppError(message: "\(path) exports no \(GATEWAY_APP_SYMBOL)()")
        }
        let entry = unsafeBitCast(symbol, to: gateway_app_fn.self)
        guard let descriptor = entry(), descriptor.pointee.abi_version == GATEWAY_ABI_VERSION,
              descriptor.pointee.call != nil else {
            dlclose(handle)
            throw NativeAppError(message: "\(path): no descriptor of ABI version \(GATEWAY_ABI_VERSION) with a call function")
        }
        // A worker's rule (AppLoader): several threads only for an app that declares it may.
        if threads > 1 && descriptor.pointee.flags & GATEWAY_APP_THREAD_SAFE == 0 {
            dlclose(handle)
            throw NativeAppError(message: "\(path) does not declare GATEWAY_APP_THREAD_SAFE: threads = \(threads) refused")
        }
        self.descriptor = descriptor
        appData = try Self.boot(descriptor, path: path, arguments: arguments, workerID: workerID, threads: threads)
    }

    /// Runs the app's init as a worker does; its error message is thrown.
    private static func boot(_ descriptor: UnsafePointer<gateway_app_descriptor>, path: String,
                             arguments: [(String, String)], workerID: Int, threads: Int) throws -> UnsafeMutableRawPointer? {
        guard let initialize = descriptor.pointee.`init` else { return nil }
        let strings = arguments.map { (strdup($0.0)!, strdup($0.1)!) }
        defer { for s in strings { free(s.0); free(s.1) } }
        let pairs = strings.map { gateway_pair(name: UnsafePointer($0.0), value: UnsafePointer($0.1)) }
        var error = [CChar](repeating: 0, count: 1024)
        return try pairs.withUnsafeBufferPointer { args in
            try error.withUnsafeMutableBufferPointer { message in
                var boot = gateway_init(abi_version: GATEWAY_ABI_VERSION, threads: UInt32(threads), api: UnsafePointer(InMemoryExchange.api),
                                        args: args.baseAddress, arg_count: args.count, worker_id: Int32(workerID),
                                        generation: 0, app_data: nil, error: message.baseAddress, error_size: message.count)
                guard initialize(&boot) == 0 else {
                    throw NativeAppError(message: "\(path): init failed: \(String(cString: message.baseAddress!))")
                }
                return boot.app_data
            }
        }
    }

    func call(_ raw: UnsafeMutablePointer<gateway_request>) -> Int32 {
        raw.pointee.app_data = appData
        return descriptor.pointee.call(raw)
    }

    func shutdown() {
        descriptor.pointee.shutdown?(appData)
    }
}

/// A native app that could not be loaded or booted: the reason, as a worker logs it.
public struct NativeAppError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
