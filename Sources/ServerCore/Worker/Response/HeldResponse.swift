/// A response whose app call is over but whose last bytes wait in the
/// connection's `ResponseBuffer` for the event loop to send: what the loop
/// needs to finish it (how the connection ends) and to write its access log
/// line then (the head is parsed again from the buffer, where it stays
/// untouched while the connection waits: nothing is read meanwhile).
struct HeldResponse {
    var headStart = 0
    var headEnd = 0
    var status = 0
    /// Body bytes the app handed over, the unsent ones included.
    var bodySent = 0
    /// Monotonic ns when the app was called, for the access log's duration.
    var started: UInt64 = 0
    var end = ConnectionEnd.keepOpen
    /// The request left input unread (a body, pipelined bytes): a close lingers.
    var unread = false
}
