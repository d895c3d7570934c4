import Crypto
import Foundation
import PKCS11
import SoftHSMTestSupport
import Testing

/// Project Wycheproof vectors run against a real SoftHSM2 token through the
/// `PKCS11` layer: every operation (verify, MAC, decrypt, wrap) happens in
/// the HSM; the test only parses vectors and compares results.
///
/// The vectors are resources of this test target
/// (`Resources/wycheproof`, Apache-2.0, with Wycheproof's LICENSE beside
/// them), so a clone runs them with no file from outside the repository.
///
/// Counting: every vector of a file is either *run* (its outcome is checked)
/// or *skipped* with a named reason; each test prints one line with the
/// counts and checks that nothing fell through (run + skipped = the file's
/// `numberOfTests`, run = vectors that were applicable, run > 0).
@Suite("Wycheproof vectors on SoftHSM2")
struct WycheproofTests {
    // MARK: ECDSA P-256 / SHA-256

    @Test func ecdsaP256SHA256DER() throws {
        let file = "ecdsa_secp256r1_sha256_test.json"
        let vectors = try Wycheproof.load(file, as: ECDSAGroup.self)
        var tally = Tally(file: file)
        try withFixture { fixture in
            for group in vectors.testGroups {
                try #require(group.publicKey.curve == "secp256r1" && group.sha == "SHA-256")
                let key = try fixture.session.importECPublicKey(
                    curve: .p256, point: Wycheproof.bytes(group.publicKey.uncompressed), KeyOptions(usage: .verify))
                for vector in group.tests {
                    let digest = Array(SHA256.hash(data: try Wycheproof.bytes(vector.msg)))
                    let der = try Wycheproof.bytes(vector.sig)
                    tally.check(vector) {
                        // A signature that is not strict DER never reaches the HSM: rejected.
                        guard let raw = try? ECDSASignature.rawSignature(fromDER: der, coordinateByteCount: 32) else {
                            return false
                        }
                        return try Wycheproof.verdict {
                            try fixture.session.verify(digest, signature: raw, key: key, mechanism: .ecdsa)
                        }
                    }
                }
            }
        }
        tally.finish(numberOfTests: vectors.numberOfTests)
    }

    @Test func ecdsaP256SHA256P1363() throws {
        let file = "ecdsa_secp256r1_sha256_p1363_test.json"
        let vectors = try Wycheproof.load(file, as: ECDSAGroup.self)
        var tally = Tally(file: file)
        try withFixture { fixture in
            for group in vectors.testGroups {
                try #require(group.publicKey.curve == "secp256r1" && group.sha == "SHA-256")
                let key = try fixture.session.importECPublicKey(
                    curve: .p256, point: Wycheproof.bytes(group.publicKey.uncompressed), KeyOptions(usage: .verify))
                for vector in group.tests {
                    let digest = Array(SHA256.hash(data: try Wycheproof.bytes(vector.msg)))
                    let signature = try Wycheproof.bytes(vector.sig)
                    tally.check(vector) {
                        try Wycheproof.verdict {
                            try fixture.session.verify(digest, signature: signature, key: key, mechanism: .ecdsa)
                        }
                    }
                }
            }
        }
        tally.finish(numberOfTests: vectors.numberOfTests)
    }

    // MARK: HMAC-SHA-256

    @Test func hmacSHA256() throws {
        let file = "hmac_sha256_test.json"
        let vectors = try Wycheproof.load(file, as: MACGroup.self)
        var tally = Tally(file: file)
        try withFixture { fixture in
            for group in vectors.testGroups {
                try #require(group.tagSize % 8 == 0 && group.tagSize <= 256)
                for vector in group.tests {
                    let keyBytes = try Wycheproof.bytes(vector.key)
                    let message = try Wycheproof.bytes(vector.msg)
                    let expectedTag = try Wycheproof.bytes(vector.tag)
                    let mac: [UInt8]
                    do {
                        let key = try fixture.session.importSecretKey(.genericSecret, value: keyBytes,
                                                                      KeyOptions(usage: .signVerify))
                        mac = try fixture.session.sign(message, key: key, mechanism: .sha256HMAC, expectedLength: 32)
                    } catch let error as PKCS11Error
                        where error.code == .keySizeRange && [PKCS11Error.Function.createObject, .signInit].contains(error.function) {
                        // SoftHSM2 wants HMAC-SHA-256 keys of at least 32 bytes.
                        tally.skip(vector, because: "SoftHSM refuses a \(keyBytes.count * 8)-bit HMAC key: \(error)")
                        continue
                    } catch {
                        tally.unexpected(vector, error)
                        continue
                    }
                    tally.check(vector) {
                        #expect(mac.count == 32, "tcId \(vector.tcId): HMAC-SHA-256 is 32 bytes")
                        return Array(mac.prefix(group.tagSize / 8)) == expectedTag
                    }
                }
            }
        }
        tally.finish(numberOfTests: vectors.numberOfTests)
    }

    // MARK: AES-GCM

    @Test func aesGCM() throws {
        let file = "aes_gcm_test.json"
        let vectors = try Wycheproof.load(file, as: AEADGroup.self)
        var tally = Tally(file: file)
        try withFixture { fixture in
            let session = fixture.session
            for group in vectors.testGroups {
                for vector in group.tests {
                    let iv = try Wycheproof.bytes(vector.iv)
                    guard iv.count == 12 else {
                        tally.skip(vector, because: "IV not 96 bits")
                        continue
                    }
                    let keyBytes = try Wycheproof.bytes(vector.key)
                    let aad = try Wycheproof.bytes(vector.aad)
                    let message = try Wycheproof.bytes(vector.msg)
                    let sealed = try Wycheproof.bytes(vector.ct) + Wycheproof.bytes(vector.tag)
                    let tagBits = try Wycheproof.bytes(vector.tag).count * 8
                    let mechanism = Mechanism.aesGCM(GCMParameters(iv: iv, aad: aad, tagBits: tagBits))
                    do {
                        let key = try session.importSecretKey(.aes, value: keyBytes, KeyOptions(usage: .encryptDecrypt))
                        let opened: [UInt8]?
                        do {
                            opened = try session.decrypt(sealed, key: key, mechanism: mechanism,
                                                         expectedLength: sealed.count)
                        } catch let error as PKCS11Error
                            where tagBits != 128 && error.function == .decryptInit && error.code == .mechanismParamInvalid {
                            tally.skip(vector, because: "SoftHSM refuses \(tagBits)-bit GCM tags")
                            continue
                        } catch let error as PKCS11Error where error.function == .decrypt {
                            opened = nil // authentication failed in C_Decrypt: rejected
                        }
                        var sealedAgain: [UInt8]?
                        if vector.result == .valid && tagBits == 128 {
                            sealedAgain = try session.encrypt(message, key: key, mechanism: mechanism,
                                                              expectedLength: sealed.count)
                        }
                        tally.check(vector) {
                            if let sealedAgain {
                                #expect(sealedAgain == sealed, "tcId \(vector.tcId): HSM encryption differs from ct || tag")
                            }
                            return opened == message
                        }
                    } catch {
                        tally.unexpected(vector, error)
                    }
                }
            }
        }
        tally.finish(numberOfTests: vectors.numberOfTests)
    }

    // MARK: AES key wrap with padding (RFC 5649)

    @Test func aesKWP() throws {
        let file = "aes_kwp_test.json"
        let vectors = try Wycheproof.load(file, as: KeyWrapGroup.self)
        var tally = Tally(file: file)
        try withFixture { fixture in
            let session = fixture.session
            let profile = try TokenProfile.probe(session, slot: fixture.token.token.slot)
            let kwp = try profile.rfc5649WrapMechanism()
            let unwrapTemplate: [Attribute] = [
                .class(.secretKey), .keyType(.genericSecret), .token(false), .sensitive(false), .extractable(true),
            ]
            var zeroPaddedByToken: [Int] = []
            for group in vectors.testGroups {
                for vector in group.tests {
                    let keyBytes = try Wycheproof.bytes(vector.key)
                    let message = try Wycheproof.bytes(vector.msg)
                    let wrapped = try Wycheproof.bytes(vector.ct)
                    do {
                        let wrappingKey = try session.importSecretKey(.aes, value: keyBytes, KeyOptions(usage: .wrapUnwrap))
                        var unwrapped: [UInt8]?
                        do {
                            let key = try session.unwrapKey(wrapped, with: wrappingKey, mechanism: kwp, template: unwrapTemplate)
                            unwrapped = try session.attribute(.value, of: key).value
                            try? session.destroyObject(key)
                        } catch let error as PKCS11Error where error.function == .unwrapKey {
                            unwrapped = nil // the token refused the wrapped blob: rejected
                        }
                        var wrappedAgain: [UInt8]?
                        var wrappedAgainOpens: [UInt8]?
                        if vector.result == .valid {
                            let plain: ObjectHandle
                            do {
                                plain = try session.createObject(unwrapTemplate + [.value(message)])
                            } catch let error as PKCS11Error where error.function == .createObject {
                                tally.skip(vector, because: "SoftHSM cannot create a \(message.count)-byte generic secret: \(error.code)")
                                continue
                            }
                            let output = try session.wrapKey(plain, with: wrappingKey, mechanism: kwp)
                            try? session.destroyObject(plain)
                            if output != wrapped {
                                // Find out what the token wrapped instead.
                                let back = try session.unwrapKey(output, with: wrappingKey, mechanism: kwp, template: unwrapTemplate)
                                wrappedAgainOpens = try session.attribute(.value, of: back).value
                                try? session.destroyObject(back)
                            }
                            wrappedAgain = output
                        }
                        try? session.destroyObject(wrappingKey)
                        if let wrappedAgain {
                            let zeroPadded = message + [UInt8](repeating: 0, count: (8 - message.count % 8) % 8)
                            if wrappedAgain == wrapped {
                                tally.note("wrap matches ct")
                            } else if message.count % 8 != 0 && wrappedAgainOpens == zeroPadded {
                                // SoftHSM2 2.6 (WrapKeySym) zero-pads every key to a multiple of
                                // 8 bytes before wrapping, also for CKM_AES_KEY_WRAP_PAD, so the
                                // RFC 5649 length indicator covers the zeros and another RFC 5649
                                // implementation unwraps key || zeros (SoftHSMv2 issue #626).
                                // Known only in exactly that form: anything else still fails.
                                tally.note("wrap differs: SoftHSM zero-pads the key to 8 bytes first (known issue)")
                                zeroPaddedByToken.append(vector.tcId)
                            } else {
                                Issue.record("\(file) tcId \(vector.tcId): HSM wrap \(wrappedAgain) differs from ct \(wrapped)")
                            }
                        }
                        tally.check(vector) { unwrapped == message }
                    } catch {
                        tally.unexpected(vector, error)
                    }
                }
            }
            if !zeroPaddedByToken.isEmpty {
                withKnownIssue("SoftHSM2 2.6 zero-pads a key to a multiple of 8 bytes before RFC 5649 wrap (SoftHSMv2 #626)") {
                    Issue.record("\(file): C_WrapKey output not RFC 5649 for \(zeroPaddedByToken.count) valid vectors, tcId \(zeroPaddedByToken)")
                }
            }
        }
        tally.finish(numberOfTests: vectors.numberOfTests)
    }

    // MARK: RSASSA-PSS 2048 / SHA-256 / MGF1-SHA-256 / 32-byte salt

    @Test func rsaPSS2048SHA256() throws {
        let file = "rsa_pss_2048_sha256_mgf1_32_test.json"
        let vectors = try Wycheproof.load(file, as: RSAPSSGroup.self)
        var tally = Tally(file: file)
        let mechanism = Mechanism(.sha256RSAPKCSPSS, .pss(PSSParameters(hash: .sha256, mgf: .mgf1SHA256, saltLength: 32)))
        try withFixture { fixture in
            for group in vectors.testGroups {
                try #require(group.sha == "SHA-256" && group.mgf == "MGF1" && group.mgfSha == "SHA-256" && group.sLen == 32)
                let modulus = Array(try Wycheproof.bytes(group.publicKey.modulus).drop(while: { $0 == 0 }))
                let key = try fixture.session.importRSAPublicKey(
                    modulus: modulus, publicExponent: Wycheproof.bytes(group.publicKey.publicExponent),
                    KeyOptions(usage: .verify))
                for vector in group.tests {
                    let message = try Wycheproof.bytes(vector.msg)
                    let signature = try Wycheproof.bytes(vector.sig)
                    tally.check(vector) {
                        try Wycheproof.verdict {
                            try fixture.session.verify(message, signature: signature, key: key, mechanism: mechanism)
                        }
                    }
                }
            }
        }
        tally.finish(numberOfTests: vectors.numberOfTests)
    }
}

// MARK: - Vector files

enum Wycheproof {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The vector directory, copied into the test bundle by SwiftPM
    /// (`resources: [.copy("Resources/wycheproof")]`).
    static func directory() throws -> URL {
        guard let url = Bundle.module.url(forResource: "wycheproof", withExtension: nil) else {
            throw Failure(description: "the wycheproof resource directory is missing from the PKCS11Tests bundle")
        }
        return url
    }

    static func load<Group: Decodable>(_ name: String, as: Group.Type) throws -> VectorFile<Group> {
        let url = try directory().appendingPathComponent(name)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw Failure(description: "cannot read Wycheproof file \(url.path): \(error)")
        }
        return try JSONDecoder().decode(VectorFile<Group>.self, from: data)
    }

    /// Hex from a vector file; malformed hex fails the test instead of crashing it.
    static func bytes(_ hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { throw Failure(description: "odd-length hex in vector: \(hex)") }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = nibble(digits[i]), let lo = nibble(digits[i + 1]) else {
                throw Failure(description: "bad hex in vector: \(hex)")
            }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A signature check's outcome. `verify` already maps
    /// `CKR_SIGNATURE_INVALID`/`CKR_SIGNATURE_LEN_RANGE` to false; a token
    /// that reports a malformed length as `CKR_DATA_LEN_RANGE` or throws
    /// `CKR_SIGNATURE_LEN_RANGE` from elsewhere has rejected it too. Any other
    /// error is not a verdict and propagates.
    static func verdict(_ verify: () throws -> Bool) throws -> Bool {
        do {
            return try verify()
        } catch let error as PKCS11Error where error.code == .signatureLenRange || error.code == .dataLenRange {
            return false
        }
    }
}

struct VectorFile<Group: Decodable>: Decodable {
    let algorithm: String
    let numberOfTests: Int
    let testGroups: [Group]
}

enum ExpectedResult: String, Decodable {
    case valid, invalid, acceptable
}

protocol WycheproofVector: Decodable {
    var tcId: Int { get }
    var comment: String { get }
    var flags: [String] { get }
    var result: ExpectedResult { get }
}

struct SignatureVector: WycheproofVector {
    let tcId: Int
    let comment: String
    let flags: [String]
    let msg: String
    let sig: String
    let result: ExpectedResult
}

struct ECDSAGroup: Decodable {
    struct PublicKey: Decodable {
        let curve: String
        /// `04 || x || y`, hex.
        let uncompressed: String
    }
    let publicKey: PublicKey
    let sha: String
    let tests: [SignatureVector]
}

struct RSAPSSGroup: Decodable {
    struct PublicKey: Decodable {
        let modulus: String
        let publicExponent: String
    }
    let sha: String
    let mgf: String
    let mgfSha: String
    let sLen: Int
    let publicKey: PublicKey
    let tests: [SignatureVector]
}

struct MACVector: WycheproofVector {
    let tcId: Int
    let comment: String
    let flags: [String]
    let key: String
    let msg: String
    let tag: String
    let result: ExpectedResult
}

struct MACGroup: Decodable {
    let keySize: Int
    let tagSize: Int
    let tests: [MACVector]
}

struct AEADVector: WycheproofVector {
    let tcId: Int
    let comment: String
    let flags: [String]
    let key: String
    let iv: String
    let aad: String
    let msg: String
    let ct: String
    let tag: String
    let result: ExpectedResult
}

struct AEADGroup: Decodable {
    let ivSize: Int
    let keySize: Int
    let tagSize: Int
    let tests: [AEADVector]
}

struct KeyWrapVector: WycheproofVector {
    let tcId: Int
    let comment: String
    let flags: [String]
    let key: String
    let msg: String
    let ct: String
    let result: ExpectedResult
}

struct KeyWrapGroup: Decodable {
    let keySize: Int
    let tests: [KeyWrapVector]
}

// MARK: - Counting

/// Counts what happened to each vector of one file and checks the outcome
/// against the vector's expected result.
struct Tally {
    let file: String
    private(set) var run = 0
    private var byResult: [ExpectedResult: Int] = [:]
    private var skips: [(reason: String, count: Int)] = []
    private var unexpectedErrors = 0
    private var notes: [(what: String, count: Int)] = []

    init(file: String) { self.file = file }

    /// Runs one vector: `accepted` says whether the HSM accepted it (a valid
    /// signature, a matching MAC, a successful decryption or unwrap with the
    /// expected result). Valid must be accepted, invalid rejected;
    /// acceptable is counted but not asserted.
    mutating func check(_ vector: some WycheproofVector, _ accepted: () throws -> Bool) {
        run += 1
        byResult[vector.result, default: 0] += 1
        let outcome: Bool
        do {
            outcome = try accepted()
        } catch {
            unexpectedErrors += 1
            Issue.record("\(file) tcId \(vector.tcId) (\(vector.result), \(vector.comment)): unexpected error \(error)")
            return
        }
        switch vector.result {
        case .valid:
            #expect(outcome, "\(file) tcId \(vector.tcId): valid vector rejected (\(vector.comment); \(vector.flags))")
        case .invalid:
            #expect(!outcome, "\(file) tcId \(vector.tcId): invalid vector accepted (\(vector.comment); \(vector.flags))")
        case .acceptable:
            break
        }
    }

    /// A vector that was attempted but failed with an error no verdict explains.
    mutating func unexpected(_ vector: some WycheproofVector, _ error: any Error) {
        check(vector) { throw error }
    }

    mutating func skip(_ vector: some WycheproofVector, because reason: String) {
        if let i = skips.firstIndex(where: { $0.reason == reason }) {
            skips[i].count += 1
        } else {
            skips.append((reason, 1))
        }
    }

    /// Counts a side observation (printed after the counts).
    mutating func note(_ what: String) {
        if let i = notes.firstIndex(where: { $0.what == what }) {
            notes[i].count += 1
        } else {
            notes.append((what, 1))
        }
    }

    var skipped: Int { skips.reduce(0) { $0 + $1.count } }

    /// Prints the counts line and checks that every vector of the file was
    /// either run or skipped for a named reason.
    func finish(numberOfTests: Int) {
        var results = ["\(byResult[.valid] ?? 0) valid", "\(byResult[.invalid] ?? 0) invalid"]
        if let acceptable = byResult[.acceptable] { results.append("\(acceptable) acceptable") }
        var line = "wycheproof \(file): \(run) run (\(results.joined(separator: ", ")))"
        if skipped > 0 {
            line += ", \(skipped) skipped (" + skips.map { skips.count == 1 ? $0.reason : "\($0.count) \($0.reason)" }
                .joined(separator: "; ") + ")"
        } else {
            line += ", 0 skipped"
        }
        if unexpectedErrors > 0 { line += ", \(unexpectedErrors) with unexpected errors" }
        if !notes.isEmpty { line += "; " + notes.map { "\($0.count) \($0.what)" }.joined(separator: "; ") }
        print(line)
        let applicable = numberOfTests - skipped
        #expect(run > 0, "\(file): no vector was run")
        #expect(run == applicable, "\(file): \(run) run but \(applicable) applicable (\(numberOfTests) in file, \(skipped) skipped)")
    }
}
