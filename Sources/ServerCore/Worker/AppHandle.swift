import CGateway

/// What a worker calls: the app's descriptor and the state its init returned.
public struct AppHandle {
    public let descriptor: UnsafePointer<gateway_app_descriptor>
    public let appData: UnsafeMutableRawPointer?

    public init(descriptor: UnsafePointer<gateway_app_descriptor>, appData: UnsafeMutableRawPointer?) {
        self.descriptor = descriptor
        self.appData = appData
    }

    public var name: String { descriptor.pointee.name.map { String(cString: $0) } ?? "app" }
}
