extension Duration {
    /// The duration in whole milliseconds: rounded toward zero, or up (`roundingUp`) for a wait that must
    /// not end before it.
    public func wholeMilliseconds(roundingUp: Bool = false) -> Int64 {
        let perMillisecond: Int64 = 1_000_000_000_000_000
        let (seconds, attoseconds) = components
        let rest = roundingUp ? (attoseconds + perMillisecond - 1) / perMillisecond : attoseconds / perMillisecond
        return seconds * 1000 + rest
    }

    /// The duration in seconds, as `TimeInterval`.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
