/// An app as the exported entry points run it, for GatewayTesting: the
/// same top-level error answer and GATEWAY_OK/GATEWAY_ERROR as `call`.
/// Not for apps (SPI: `@_spi(Testing) import Gateway`).
@_spi(Testing)
public final class AppHost {
    let box: AppBox

    public init(_ responder: any Responder) { box = AppBox(responder) }

    /// What the server's `call` would get for `raw`.
    public func call(_ raw: UnsafeMutablePointer<gateway_request>) -> Int32 { box.call(raw) }

    public func shutdown() { box.responder.shutdown() }
}
