/// Adds `Server-Timing: app;dur=1.234`: the milliseconds from the request
/// entering this middleware to the response head going out (W3C
/// Server Timing). Browsers' devtools show it.
public struct ServerTiming: Middleware {
    /// The metric name.
    public let metric: String

    public init(metric: String = "app") { self.metric = metric }

    public func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
        let clock = ContinuousClock()
        let started = clock.now
        let metric = self.metric
        try next.respond(to: request, with: response.addingHeaders {
            [("Server-Timing", "\(metric);dur=\(ServerTiming.milliseconds(clock.now - started))")]
        })
    }

    /// `duration` in milliseconds with three decimals ("12.345").
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let micros = max(seconds * 1_000_000 + attoseconds / 1_000_000_000_000, 0)
        let fraction = String(micros % 1000)
        return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
