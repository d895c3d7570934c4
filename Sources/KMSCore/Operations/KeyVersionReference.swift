import KMSModel

/// Which version of which key: what a front end that names key versions to
/// its clients needs (the Kubernetes plugin's `key_id`). Nothing here is
/// secret — a key's ARN and a number — so reading it needs no policy check
/// and makes no audit line; every use of the key still goes through both.
public struct KeyVersionReference: Sendable, Hashable {
    public var keyARN: String
    /// Nil while a key has no material (pending import).
    public var version: UInt32?
    public var state: KeyState
}

extension KMSEngine {
    /// The key `name` (key id, key ARN or alias) resolves to now, with its
    /// current version: the one the next Encrypt uses.
    public func currentVersion(ofKey name: String) async throws -> KeyVersionReference {
        let key = try await resolveKey(name)
        return KeyVersionReference(keyARN: arn(key), version: key.currentVersion, state: key.state)
    }

    /// The key ARN and version a symmetric ciphertext blob's header names,
    /// unauthenticated (nil if it is not one of ours): Decrypt authenticates them.
    public func claimedKeyVersion(ofCiphertext blob: [UInt8]) -> (keyARN: String, version: UInt32)? {
        guard let parsed = try? CiphertextBlob.parse(blob) else { return nil }
        return (configuration.arn.keyARN(parsed.keyID), parsed.version)
    }
}
