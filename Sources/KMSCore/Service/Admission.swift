import Synchronization

/// Which requests (or connections) may be in progress now: at most `total`
/// at once, and at most `perCaller` of them for any one caller, so a single
/// uid, access key or source address cannot take every slot. One past
/// either bound is refused at once (ThrottlingException, which SDKs retry
/// with backoff) rather than queued: a queue that grows with the load is how
/// a burst becomes an outage. `KMSService` bounds requests with it, the HTTP
/// front end connections.
public final class Admission: Sendable {
    public let total: Int?
    public let perCaller: Int?
    private struct State {
        var running = 0
        var byCaller: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init(total: Int?, perCaller: Int?) {
        self.total = total
        self.perCaller = perCaller
    }

    /// Why a request was not admitted.
    public enum Refusal: Sendable {
        case full(Int)
        case caller(Int)
    }

    /// Takes a slot for `caller` (`release(caller)` gives it back), or says why not.
    public func admit(_ caller: String) -> Refusal? {
        let refusal = state.withLock { s -> Refusal? in
            if let total, s.running >= total { return .full(total) }
            let mine = s.byCaller[caller, default: 0]
            if let perCaller, mine >= perCaller { return .caller(perCaller) }
            s.running += 1
            s.byCaller[caller] = mine + 1
            return nil
        }
        return refusal
    }

    public func release(_ caller: String) {
        state.withLock { s in
            s.running -= 1
            let left = s.byCaller[caller, default: 1] - 1
            s.byCaller[caller] = left == 0 ? nil : left
        }
    }

    /// Slots taken now (for health and metrics).
    public var running: Int { state.withLock { $0.running } }
}
