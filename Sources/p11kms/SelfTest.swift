import ArgumentParser
import Foundation
import PKCS11
import SoftHSMTestSupport

/// Until the daemon exists this is what the README's first command runs: it
/// makes (or reuses) the dev token, probes it, and runs each operation the
/// daemon will need once, inside the token.
struct SelfTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "self-test",
        abstract: "Create or reuse the dev SoftHSM2 token and exercise it.",
        discussion: """
            Makes DIR (default ./.p11kms-dev) with a SoftHSM2 token labelled p11kms-dev and its
            PINs in 0600 files, prints what the token can do (the token profile), and runs AES-GCM,
            ECDSA, RSA-PSS, HMAC, RFC 5649 key wrap and random generation once each in the token.
            """)

    @Option(help: ArgumentHelp("State directory.", valueName: "dir")) var stateDir = "./.p11kms-dev"

    func run() async throws {
        let dev = try DevToken.prepare(stateDirectory: stateDir)
        let pool = try SessionPool(token: dev.token, pin: dev.userPIN(), configuration: .init(maxSessions: 2))
        print("token \"\(dev.token.label)\" (serial \(dev.token.serialNumber)) in \(dev.stateDirectory)")
        print("user PIN file: \(dev.userPINFile) (mode 0600)")
        let report = try await pool.withSession { s -> [String] in
            let profile = try TokenProfile.probe(s, slot: dev.token.slot)
            var lines = [
                "profile: \(profile.manufacturerID) \(profile.model), \(profile.mechanisms.count) mechanisms",
                "  RFC 5649 key wrap: \(profile.rfc5649KeyWrap?.description ?? "none")",
                "  GCM IV chosen by: \(profile.gcmIVPolicy.rawValue)",
                "  OAEP hashes: \(profile.oaepHashes.map(\.description).sorted().joined(separator: ", "))",
                "  EC curves: \(profile.ecCurves.map(\.name).sorted().joined(separator: ", ")); Ed25519: \(profile.supportsEd25519)",
                "  RSA modulus bits: \(profile.rsaModulusBits.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "none")",
            ]
            func step(_ name: String, _ body: () throws -> Bool) {
                let ok = (try? body()) ?? false
                lines.append("\(ok ? "ok  " : "FAIL") \(name)")
            }
            step("AES-256-GCM encrypt/decrypt") {
                let key = try s.generateKey(.aes(bits: 256), KeyOptions(usage: .encryptDecrypt))
                defer { try? s.destroyObject(key) }
                return try s.aesGCMOpen(s.aesGCMSeal([1, 2, 3], key: key, ivPolicy: profile.gcmIVPolicy), key: key) == [1, 2, 3]
            }
            step("ECDSA P-256 sign/verify") {
                let pair = try s.generateKeyPair(.ec(.p256), KeyOptions(usage: .signVerify))
                defer { try? s.destroyObject(pair.privateKey); try? s.destroyObject(pair.publicKey) }
                let digest = try s.digest([42], mechanism: .sha256)
                return try s.verify(digest, signature: s.sign(digest, key: pair.privateKey, mechanism: .ecdsa),
                                    key: pair.publicKey, mechanism: .ecdsa)
            }
            step("RSA-2048 PSS sign/verify") {
                let pair = try s.generateKeyPair(.rsa(bits: 2048), KeyOptions(usage: .signVerify))
                defer { try? s.destroyObject(pair.privateKey); try? s.destroyObject(pair.publicKey) }
                return try s.verify([42], signature: s.sign([42], key: pair.privateKey, mechanism: .sha256RSAPKCSPSS()),
                                    key: pair.publicKey, mechanism: .sha256RSAPKCSPSS())
            }
            step("HMAC-SHA-256") {
                let key = try s.generateKey(.genericSecret(bytes: 32), KeyOptions(usage: .signVerify))
                defer { try? s.destroyObject(key) }
                return try s.verify([42], signature: s.sign([42], key: key, mechanism: .sha256HMAC), key: key, mechanism: .sha256HMAC)
            }
            step("RFC 5649 wrap/unwrap") {
                let domain = try s.generateKey(.aes(bits: 256), KeyOptions(usage: .wrapUnwrap))
                var options = KeyOptions(usage: .encryptDecrypt)
                options.extractable = true
                let key = try s.generateKey(.aes(bits: 256), options)
                let blob = try s.wrapKey(key, with: domain, mechanism: profile.rfc5649WrapMechanism())
                let back = try s.unwrapKey(blob, with: domain, mechanism: profile.rfc5649WrapMechanism(),
                                           template: [.class(.secretKey), .keyType(.aes), .token(false),
                                                      .extractable(false), Attribute(.decrypt, bool: true)])
                defer { [domain, key, back].forEach { try? s.destroyObject($0) } }
                return try s.aesGCMOpen(s.aesGCMSeal([9], key: key), key: back) == [9]
            }
            step("random bytes") { try s.generateRandom(count: 32).count == 32 }
            return lines
        }
        try await pool.shutdown()
        report.forEach { print($0) }
        if report.contains(where: { $0.hasPrefix("FAIL") }) { throw ExitCode(1) }
        print("self-test passed")
    }
}
