import Testing
@testable import ServerCore

// X-Request-Start: every form in use, the unit told by magnitude.
@Suite struct RequestStartTests {
    let cases: [(String, Double?)] = [
        ("t=1700000000.123", 1_700_000_000.123),    // nginx t=${msec}
        ("t=1700000000123456", 1_700_000_000.123456), // Apache %t: microseconds
        ("1700000000.5", 1_700_000_000.5),          // seconds with a fraction
        ("1700000000", 1_700_000_000),
        ("1700000000123", 1_700_000_000.123),       // milliseconds (Heroku)
        ("1700000000123456", 1_700_000_000.123456), // microseconds
        ("1700000000123456789", 1_700_000_000.123456789), // nanoseconds
        (" t=1700000000.25 D=123", 1_700_000_000.25), // New Relic adds fields
        ("t=12", nil),                              // before 2000 in every unit
        ("t=", nil), ("", nil), ("abc", nil), ("t=17000x", nil), ("1.2.3", nil),
        ("99999999999999999999999", nil),
    ]

    @Test func forms() {
        for (text, want) in cases {
            let got = RequestStart.seconds(text)
            if let want, let got {
                #expect(abs(got - want) < 1e-5, "\(text): \(got)")
            } else {
                #expect(got == nil && want == nil, "\(text): \(String(describing: got))")
            }
        }
    }
}
