import Crypto
import Foundation
@testable import KMSCore
import KMSModel
import SoftHSMTestSupport
import Testing
import _CryptoExtras

@Suite("Sign, Verify, GetPublicKey, GenerateMac, VerifyMac, GenerateRandom")
struct SigningAndMacTests {
    static let message = Data("pay 100 to alice".utf8)

    static func digest(_ algorithm: SigningAlgorithm, _ data: Data) -> Data {
        switch algorithm.digest {
        case .sha256: Data(SHA256.hash(data: data))
        case .sha384: Data(SHA384.hash(data: data))
        case .sha512: Data(SHA512.hash(data: data))
        }
    }

    /// Verifies a signature outside the HSM and outside the engine.
    static func verifyOutside(spec: KeySpec, algorithm: SigningAlgorithm, spki: Data, signature: Data) async throws -> Bool {
        let digest = digest(algorithm, message)
        switch spec {
        case .eccNistP256:
            return try P256.Signing.PublicKey(derRepresentation: spki).isValidSignature(
                P256.Signing.ECDSASignature(derRepresentation: signature), for: SHA256.hash(data: message))
        case .eccNistP384:
            return try P384.Signing.PublicKey(derRepresentation: spki).isValidSignature(
                P384.Signing.ECDSASignature(derRepresentation: signature), for: SHA384.hash(data: message))
        case .eccNistP521:
            return try P521.Signing.PublicKey(derRepresentation: spki).isValidSignature(
                P521.Signing.ECDSASignature(derRepresentation: signature), for: SHA512.hash(data: message))
        case .eccSecgP256k1:
            return try await OpenSSLCommand.verifyECDSA(spki: [UInt8](spki), digest: [UInt8](digest), derSignature: [UInt8](signature))
        case .eccNistEdwards25519:
            return try Curve25519.Signing.PublicKey(rawRepresentation: spki.suffix(32)).isValidSignature(signature, for: message)
        default:
            let key = try _RSA.Signing.PublicKey(derRepresentation: spki)
            let padding: _RSA.Signing.Padding = algorithm.rawValue.contains("PSS") ? .PSS : .insecurePKCS1v1_5
            let sig = _RSA.Signing.RSASignature(rawRepresentation: signature)
            switch algorithm.digest {
            case .sha256: return key.isValidSignature(sig, for: SHA256.hash(data: message), padding: padding)
            case .sha384: return key.isValidSignature(sig, for: SHA384.hash(data: message), padding: padding)
            case .sha512: return key.isValidSignature(sig, for: SHA512.hash(data: message), padding: padding)
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func everySigningAlgorithmVerifiesOutside(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            for spec in [KeySpec.eccNistP256, .eccNistP384, .eccNistP521, .eccSecgP256k1, .eccNistEdwards25519, .rsa2048] {
                let key = try await f.createKey(spec, usage: .signVerify)
                let pub = try await f.engine.getPublicKey(KeyIdRequest(keyId: key.keyId), caller: f.caller)
                #expect(pub.keySpec == spec && pub.keyUsage == .signVerify && pub.signingAlgorithms == key.signingAlgorithms)
                for algorithm in key.signingAlgorithms ?? [] {
                    let types: [MessageType] = algorithm == .ed25519SHA512 ? [.raw] : [.raw, .digest]
                    for type in types {
                        let message = type == .raw ? Self.message : Self.digest(algorithm, Self.message)
                        let signed = try await f.engine.sign(
                            SignRequest(keyId: key.keyId, message: message, messageType: type, signingAlgorithm: algorithm),
                            caller: f.caller)
                        #expect(signed.signingAlgorithm == algorithm && signed.keyId == key.arn)
                        #expect(try await Self.verifyOutside(spec: spec, algorithm: algorithm, spki: pub.publicKey,
                                                             signature: signed.signature), "\(spec) \(algorithm) \(type)")
                        let verified = try await f.engine.verify(
                            VerifyRequest(keyId: key.keyId, message: message, messageType: type, signature: signed.signature,
                                          signingAlgorithm: algorithm), caller: f.caller)
                        #expect(verified.signatureValid)
                        var bad = [UInt8](signed.signature)
                        bad[bad.count / 2] ^= 0x01
                        await expectKMSError(.kmsInvalidSignature, "\(spec) \(algorithm)") {
                            try await f.engine.verify(VerifyRequest(keyId: key.keyId, message: message, messageType: type,
                                                                    signature: Data(bad), signingAlgorithm: algorithm),
                                                      caller: f.caller)
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func signingRules(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let ec = try await f.createKey(.eccNistP256)
            let sym = try await f.createKey()
            await expectKMSError(.invalidKeyUsage) {
                try await f.engine.sign(SignRequest(keyId: ec.keyId, message: Self.message, signingAlgorithm: .ecdsaSHA384), caller: f.caller)
            }
            await expectKMSError(.invalidKeyUsage) {
                try await f.engine.sign(SignRequest(keyId: sym.keyId, message: Self.message, signingAlgorithm: .ecdsaSHA256), caller: f.caller)
            }
            await expectKMSError(.validation) {
                try await f.engine.sign(SignRequest(keyId: ec.keyId, message: Self.message, messageType: .digest,
                                                    signingAlgorithm: .ecdsaSHA256), caller: f.caller)
            }
            await expectKMSError(.validation) {
                try await f.engine.sign(SignRequest(keyId: ec.keyId, message: Self.message, signingAlgorithm: nil), caller: f.caller)
            }
            await expectKMSError(.unsupportedOperation) {
                try await f.engine.getPublicKey(KeyIdRequest(keyId: sym.keyId), caller: f.caller)
            }
            // A BER (non-DER) encoding of a valid signature is refused.
            let signed = try await f.engine.sign(SignRequest(keyId: ec.keyId, message: Self.message, signingAlgorithm: .ecdsaSHA256),
                                                 caller: f.caller)
            var der = [UInt8](signed.signature)
            let ber = [0x30, 0x81, der[1]] + der.dropFirst(2)
            await expectKMSError(.kmsInvalidSignature) {
                try await f.engine.verify(VerifyRequest(keyId: ec.keyId, message: Self.message, signature: Data(ber),
                                                        signingAlgorithm: .ecdsaSHA256), caller: f.caller)
            }
            der[der.count - 1] ^= 0xFF
            await expectKMSError(.kmsInvalidSignature) {
                try await f.engine.verify(VerifyRequest(keyId: ec.keyId, message: Self.message, signature: Data(der),
                                                        signingAlgorithm: .ecdsaSHA256), caller: f.caller)
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func macsForEveryHMACSpec(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            for (spec, algorithm, length) in [(KeySpec.hmac224, MacAlgorithm.hmacSHA224, 28), (.hmac256, .hmacSHA256, 32),
                                              (.hmac384, .hmacSHA384, 48), (.hmac512, .hmacSHA512, 64)] {
                let key = try await f.createKey(spec)
                let mac = try await f.engine.generateMac(GenerateMacRequest(keyId: key.keyId, message: Self.message,
                                                                            macAlgorithm: algorithm), caller: f.caller)
                #expect(mac.mac.count == length && mac.macAlgorithm == algorithm)
                let again = try await f.engine.generateMac(GenerateMacRequest(keyId: key.keyId, message: Self.message,
                                                                              macAlgorithm: algorithm), caller: f.caller)
                #expect(again.mac == mac.mac, "HMAC is deterministic")
                let ok = try await f.engine.verifyMac(VerifyMacRequest(keyId: key.keyId, message: Self.message,
                                                                       macAlgorithm: algorithm, mac: mac.mac), caller: f.caller)
                #expect(ok.macValid)
                var bad = [UInt8](mac.mac)
                bad[0] ^= 1
                await expectKMSError(.kmsInvalidMac) {
                    try await f.engine.verifyMac(VerifyMacRequest(keyId: key.keyId, message: Self.message,
                                                                  macAlgorithm: algorithm, mac: Data(bad)), caller: f.caller)
                }
                await expectKMSError(.kmsInvalidMac) {
                    try await f.engine.verifyMac(VerifyMacRequest(keyId: key.keyId, message: Self.message + [0],
                                                                  macAlgorithm: algorithm, mac: mac.mac), caller: f.caller)
                }
                let wrong: MacAlgorithm = algorithm == .hmacSHA256 ? .hmacSHA512 : .hmacSHA256
                await expectKMSError(.invalidKeyUsage) {
                    try await f.engine.generateMac(GenerateMacRequest(keyId: key.keyId, message: Self.message,
                                                                      macAlgorithm: wrong), caller: f.caller)
                }
            }
            let sym = try await f.createKey()
            await expectKMSError(.invalidKeyUsage) {
                try await f.engine.generateMac(GenerateMacRequest(keyId: sym.keyId, message: Self.message,
                                                                  macAlgorithm: .hmacSHA256), caller: f.caller)
            }
        }
    }

    @Test(arguments: KeyStorageMode.allCases)
    func generateRandom(mode: KeyStorageMode) async throws {
        try await withEngine(mode) { f in
            let a = try await f.engine.generateRandom(GenerateRandomRequest(numberOfBytes: 32), caller: f.caller)
            let b = try await f.engine.generateRandom(GenerateRandomRequest(numberOfBytes: 32), caller: f.caller)
            #expect(a.plaintext.count == 32 && a.plaintext != b.plaintext)
            #expect(try await f.engine.generateRandom(GenerateRandomRequest(numberOfBytes: 1024), caller: f.caller).plaintext.count == 1024)
            for n in [0, 1025, nil] as [Int?] {
                await expectKMSError(.validation) { try await f.engine.generateRandom(GenerateRandomRequest(numberOfBytes: n), caller: f.caller) }
            }
        }
    }
}
