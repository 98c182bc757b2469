/// The parser's limits from the configuration's keys.
extension HTTPLimits {
    public init(_ c: Config) {
        self.init(requestLine: c.limitRequestLine, fields: c.limitRequestFields,
                  fieldSize: c.limitRequestFieldSize, maxBody: c.maxBodySize)
    }
}
