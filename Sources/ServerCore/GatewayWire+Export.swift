/// The wire (the parser, the protocol decoders, the response encoder) is a
/// target of its own, GatewayWire; everything that uses ServerCore sees it.
@_exported import GatewayWire
