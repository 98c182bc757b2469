#if canImport(Glibc)
import Glibc
#endif
import CGateway
import ServerCore

/// Loads an app shared object in a worker: dlopen, the `gateway_app`
/// symbol, the ABI check, then init with app_args.
public enum AppLoader {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case openFailed(path: String, reason: String)
        case symbolNotFound(path: String, name: String)
        case nullDescriptor(path: String)
        case abiMismatch(path: String, app: UInt32, server: UInt32)
        case missingEntryPoint(path: String, name: String)
        case initFailed(path: String, code: Int32, message: String)
        case notThreadSafe(path: String, threads: Int)

        public var description: String {
            switch self {
            case let .openFailed(path, reason):
                return "cannot load app \(path): dlopen() failed: \(reason)"
            case let .symbolNotFound(path, name):
                return "cannot load app \(path): dlsym() found no symbol \"\(name)\" (export it with GATEWAY_EXPORT_APP or @_cdecl(\"\(name)\"))"
            case let .nullDescriptor(path):
                return "cannot load app \(path): \(GATEWAY_APP_SYMBOL)() returned NULL"
            case let .abiMismatch(path, app, server):
                return "cannot load app \(path): it was built for gateway ABI version \(app), this server speaks version \(server)"
            case let .missingEntryPoint(path, name):
                return "cannot load app \(path): its descriptor has no \(name) entry point"
            case let .notThreadSafe(path, threads):
                return "cannot load app \(path) with threads = \(threads): it does not declare that it may be called from several threads "
                    + "(GATEWAY_APP_THREAD_SAFE in its descriptor; a Swift app must be Sendable): set threads = 1 or make the app thread-safe"
            case let .initFailed(path, code, message):
                let why = message.isEmpty ? "no message" : message
                return "app \(path) failed to boot: init() returned \(code): \(why)"
            }
        }
    }

    /// dlopen + descriptor + ABI check.
    public static func load(path: String) throws -> UnsafePointer<gateway_app_descriptor> {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw Error.openFailed(path: path, reason: reason)
        }
        guard let symbol = dlsym(handle, GATEWAY_APP_SYMBOL) else {
            throw Error.symbolNotFound(path: path, name: GATEWAY_APP_SYMBOL)
        }
        let entry = unsafeBitCast(symbol, to: gateway_app_fn.self)
        guard let descriptor = entry() else { throw Error.nullDescriptor(path: path) }
        let version = descriptor.pointee.abi_version
        guard version == GATEWAY_ABI_VERSION else {
            throw Error.abiMismatch(path: path, app: version, server: GATEWAY_ABI_VERSION)
        }
        guard descriptor.pointee.call != nil else { throw Error.missingEntryPoint(path: path, name: "call") }
        return descriptor
    }

    /// Calls the app's init with app_args; returns what it serves with.
    public static func initialize(_ descriptor: UnsafePointer<gateway_app_descriptor>, path: String,
                                  args: [(name: String, value: String)], identity: WorkerIdentity,
                                  threads: Int = 1) throws -> AppHandle {
        // Several app threads only for an app that says it can be called from them.
        if threads > 1 && descriptor.pointee.flags & GATEWAY_APP_THREAD_SAFE == 0 {
            throw Error.notThreadSafe(path: path, threads: threads)
        }
        guard let initialize = descriptor.pointee.`init` else {
            return AppHandle(descriptor: descriptor, appData: nil)
        }
        let names = args.map { strdup($0.name) }
        let values = args.map { strdup($0.value) }
        defer {
            names.forEach { free($0) }
            values.forEach { free($0) }
        }
        var pairs = (0..<args.count).map { gateway_pair(name: names[$0], value: values[$0]) }
        let errorSize = 4096
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: errorSize)
        errorBuffer.initialize(repeating: 0, count: errorSize)
        defer { errorBuffer.deallocate() }
        return try pairs.withUnsafeMutableBufferPointer { p in
            var info = gateway_init(
                abi_version: GATEWAY_ABI_VERSION, threads: UInt32(threads), api: GatewayAPI.table,
                args: UnsafePointer(p.baseAddress), arg_count: args.count,
                worker_id: Int32(identity.id), generation: identity.generation,
                app_data: nil, error: errorBuffer, error_size: errorSize)
            let rc = initialize(&info)
            guard rc == 0 else {
                errorBuffer[errorSize - 1] = 0
                throw Error.initFailed(path: path, code: rc, message: String(cString: errorBuffer))
            }
            return AppHandle(descriptor: descriptor, appData: info.app_data)
        }
    }

    /// An optional export of the app loaded from `path` (gateway_interrupt), or nil.
    public static func optionalSymbol(path: String, _ name: String) -> UnsafeMutableRawPointer? {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD) else { return nil }
        defer { dlclose(handle) }
        return dlsym(handle, name)
    }

    public static func shutdown(_ app: AppHandle) {
        app.descriptor.pointee.shutdown?(app.appData)
    }
}
