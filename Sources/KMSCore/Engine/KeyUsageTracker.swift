import Foundation
import KMSModel
import Synchronization

/// The last successful use of each key by each tracked operation, kept in
/// memory on the request path and written to the store in batches.
///
/// Why batches: a store write per request would put a synchronous SQLite
/// commit (FULL sync) on every Encrypt. Here a request costs one lock and a
/// dictionary store; `flush` writes what changed since the last flush in one
/// transaction (the daemon calls it every `KeyUsageTracker.flushInterval`
/// and at shutdown). After a crash the store may lag by up to that interval;
/// the audit log, written before every answer, still has each use.
final class KeyUsageTracker: Sendable {
    /// How often the daemon writes changed last-use records to the store.
    static let flushInterval: Duration = .seconds(5)

    /// AWS's `KeyLastUsageTrackingOperation`: the operations that count as a use.
    static let trackedOperations: Set<KMSOperation> = [
        .decrypt, .deriveSharedSecret, .encrypt, .generateDataKey, .generateDataKeyPair,
        .generateDataKeyPairWithoutPlaintext, .generateDataKeyWithoutPlaintext, .generateMac, .reEncrypt,
        .sign, .verify, .verifyMac,
    ]

    private struct Slot: Hashable {
        let keyID: String
        let operation: String
    }

    private struct State {
        var latest: [Slot: KeyUsageRecord] = [:]
        var dirty: Set<Slot> = []
    }

    private let state = Mutex(State())

    /// Notes a successful `operation` on each of `keyIDs`; untracked operations are ignored.
    func record(_ operation: KMSOperation, keyIDs: [String], requestID: String, at date: Date) {
        guard Self.trackedOperations.contains(operation), !keyIDs.isEmpty else { return }
        state.withLock { s in
            for keyID in keyIDs {
                let slot = Slot(keyID: keyID, operation: operation.rawValue)
                if let known = s.latest[slot], known.usedAt > date { continue }
                s.latest[slot] = KeyUsageRecord(keyID: keyID, operation: operation.rawValue, usedAt: date, requestID: requestID)
                s.dirty.insert(slot)
            }
        }
    }

    /// The uses of `keyID` recorded since this process started.
    func uses(keyID: String) -> [KeyUsageRecord] {
        state.withLock { s in s.latest.values.filter { $0.keyID == keyID } }
    }

    /// Forgets a deleted key, so memory holds only live keys.
    func forget(keyID: String) {
        state.withLock { s in
            for slot in s.latest.keys where slot.keyID == keyID {
                s.latest[slot] = nil
                s.dirty.remove(slot)
            }
        }
    }

    /// Writes the uses changed since the last flush. On failure they stay
    /// pending for the next flush.
    func flush(to store: any MetadataStore) async throws {
        let batch = state.withLock { s -> [KeyUsageRecord] in
            defer { s.dirty.removeAll() }
            return s.dirty.compactMap { s.latest[$0] }
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.recordUsage(batch)
        } catch {
            state.withLock { s in
                for use in batch { s.dirty.insert(Slot(keyID: use.keyID, operation: use.operation)) }
            }
            throw error
        }
    }
}
