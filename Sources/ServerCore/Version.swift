public enum GatewaydVersion {
    public static let string = "0.1.0"
}
