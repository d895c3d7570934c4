import Foundation


/// Checks that cannot be done with swift-crypto (secp256k1) go to the
/// OpenSSL command line, so every signature is verified outside the HSM.
public enum OpenSSLCommand {
    /// `openssl pkeyutl -verify` of a DER ECDSA signature over a digest.
    /// Async: the child is awaited on a thread of its own (ChildProcess).
    public static func verifyECDSA(spki: [UInt8], digest: [UInt8], derSignature: [UInt8]) async throws -> Bool {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("p11kms-openssl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("pub.der")
        let input = dir.appendingPathComponent("digest.bin")
        let sig = dir.appendingPathComponent("sig.der")
        try Data(spki).write(to: key)
        try Data(digest).write(to: input)
        try Data(derSignature).write(to: sig)
        return try await ChildProcess.run("/usr/bin/openssl", ["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", key.path,
                                                               "-in", input.path, "-sigfile", sig.path]).status == 0
    }
}
