import Foundation
import Synchronization

/// The engine's notion of now, injectable so tests move time instead of
/// sleeping through rotation periods and deletion windows.
public protocol KMSClock: Sendable {
    var now: Date { get }
}

public struct SystemClock: KMSClock {
    public init() {}
    public var now: Date { Date() }
}

/// A clock that moves only when told to.
public final class ManualClock: KMSClock {
    private let current: Mutex<Date>
    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }
    public var now: Date { current.withLock { $0 } }
    public func advance(days: Double) { current.withLock { $0 += days * 86_400 } }
    public func advance(seconds: TimeInterval) { current.withLock { $0 += seconds } }
}
