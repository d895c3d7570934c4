import Foundation

// The statistics both benchmark tools report with: the raw baseline
// (p11kms-hsmbench) and the daemon's (p11kms-loadgen) must compute their
// percentiles the same way for their ratio to mean anything.

/// The nearest-rank `q`-quantile of nanosecond samples sorted ascending, in ms.
public func percentile(_ sorted: [UInt64], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))
    return Double(sorted[rank]) / 1e6
}

/// `x` rounded to `places` decimals, for the report.
public func rounded(_ x: Double, _ places: Int = 3) -> Double {
    let f = pow(10, Double(places))
    return (x * f).rounded() / f
}
