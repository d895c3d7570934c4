import Foundation
import KMSCore
import KMSModel
import Synchronization

/// Status' `healthz`: "ok" only after a real round trip through the HSM
/// under the KEK (Encrypt then Decrypt of a probe, through the service, as
/// the caller asking, so its policy and the audit log see the probe too),
/// remembered for at most `validity` per caller. Otherwise a short reason.
final class HealthProbe: Sendable {
    /// The probe's encryption context, which also marks its audit lines.
    static let context = ["healthz.kms.p11kms.io": "status-probe"]
    static let validity: Duration = .seconds(60)

    private let kms: KMSService
    private let keyName: String
    private struct Asker: Hashable {
        var caller: Principal
        var keyID: String
    }
    private let results = Mutex<[Asker: ContinuousClock.Instant]>([:])

    init(kms: KMSService, keyName: String) {
        self.kms = kms
        self.keyName = keyName
    }

    /// A success is remembered per caller and key version (a rotation is
    /// probed afresh); a failure is not, so a recovery shows at the next poll.
    func healthz(for caller: Principal, keyID: String) async -> String {
        let asker = Asker(caller: caller, keyID: keyID)
        if let at = results.withLock({ $0[asker] }), ContinuousClock.now - at < Self.validity { return "ok" }
        let healthz = await probe(caller)
        let now = ContinuousClock.now
        results.withLock { r in
            // Callers come and go with their pids: forget the stale ones.
            r = r.filter { now - $0.value < Self.validity }
            r[asker] = healthz == "ok" ? now : nil
        }
        return healthz
    }

    /// Forgets every success: the KEK cannot be used now.
    func forget() {
        results.withLock { $0.removeAll() }
    }

    private func probe(_ caller: Principal) async -> String {
        let probe = Data("p11kms kubernetes healthz probe".utf8)
        let audit = ["kubernetes:uid": "status-probe"]
        do {
            let sealed = await kms.handle(KMSService.Request(
                target: "TrentService.Encrypt",
                body: try AWSJSONCodec.encode(EncryptRequest(keyId: keyName, plaintext: probe, encryptionContext: Self.context)),
                caller: caller, auditContext: audit))
            if let error = sealed.error { return reason("Encrypt", error) }
            let blob = try AWSJSONCodec.decode(EncryptResponse.self, from: sealed.body).ciphertextBlob
            let opened = await kms.handle(KMSService.Request(
                target: "TrentService.Decrypt",
                body: try AWSJSONCodec.encode(DecryptRequest(ciphertextBlob: blob, encryptionContext: Self.context, keyId: keyName)),
                caller: caller, auditContext: audit))
            if let error = opened.error { return reason("Decrypt", error) }
            guard try AWSJSONCodec.decode(DecryptResponse.self, from: opened.body).plaintext == probe else {
                return "the probe under \(keyName) did not decrypt to what was encrypted"
            }
            return "ok"
        } catch {
            return "the probe under \(keyName) failed: \(error)"
        }
    }

    private func reason(_ step: String, _ error: KMSError) -> String {
        "probe \(step) under \(keyName) failed: \(error.name.rawValue)"
    }
}
