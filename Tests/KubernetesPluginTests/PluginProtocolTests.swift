import DaemonTestSupport
import Foundation
import GRPCCore
import KMSKubernetes
import Testing

/// The Kubernetes KMS v2 plugin through a real dev daemon and a Swift gRPC client.
@Suite("Kubernetes KMS v2 plugin")
struct PluginProtocolTests {
    @Test func statusReportsV2HealthyAndTheCurrentKeyVersion() async throws {
        try await Plugin.with { p in
            let status = try await p.status()
            #expect(status.version == "v2")
            #expect(status.healthz == "ok")
            #expect(status.keyID.hasPrefix("arn:aws:kms:local:000000000000:key/") && status.keyID.hasSuffix("#v1"))
            #expect(status.keyID.utf8.count < 1024)
        }
    }

    @Test func encryptThenDecryptGivesTheSeedBack() async throws {
        try await Plugin.with { p in
            let plaintext = seed()
            let sealed = try await p.encrypt(plaintext)
            #expect(sealed.ciphertext.count <= 1024)
            #expect(sealed.ciphertext != plaintext)
            #expect(sealed.keyID == (try await p.status()).keyID)
            #expect(!sealed.annotations.isEmpty)
            for key in sealed.annotations.keys {
                #expect(key.contains(".") && key == key.lowercased(), "annotation keys are fully qualified domain names")
            }
            #expect(try await p.decrypt(sealed) == plaintext)
            // Another Encrypt of the same seed is another ciphertext.
            #expect(try await p.encrypt(plaintext).ciphertext != sealed.ciphertext)
        }
    }

    @Test func keyIDChangesOnEveryRotationNeverRepeatsAndOldCiphertextsStillDecrypt() async throws {
        try await Plugin.with { p in
            var seen: [String] = []
            var sealed: [(Data, V2_EncryptResponse)] = []
            for round in 0...3 {
                if round > 0 { _ = try p.kek("RotateKeyOnDemand") }
                let keyID = try await p.status().keyID
                #expect(!seen.contains(keyID), "key_id \(keyID) came back after \(seen)")
                #expect(keyID.hasSuffix("#v\(round + 1)"))
                seen.append(keyID)
                let plaintext = seed()
                let response = try await p.encrypt(plaintext)
                #expect(response.keyID == keyID, "Encrypt uses the version Status names")
                sealed.append((plaintext, response))
            }
            for (plaintext, response) in sealed {
                #expect(try await p.decrypt(response) == plaintext, "\(response.keyID) still decrypts after rotation")
            }
        }
    }

    @Test func unknownKeyIDFlippedByteTruncationAndChangedAnnotationAreRefusedAlike() async throws {
        try await Plugin.with { p in
            let sealed = try await p.encrypt(seed())
            var flipped = sealed.ciphertext
            flipped[flipped.count / 2] ^= 0x01
            var changed = sealed.annotations
            changed[changed.keys.first!] = Data("another-request".utf8)
            var added = sealed.annotations
            added["extra.example.com"] = Data("x".utf8)
            let version = sealed.keyID.split(separator: "#").last!
            let cases: [(String, () async throws -> Data)] = [
                ("unknown key_id", { try await p.decrypt(ciphertext: sealed.ciphertext, keyID: "arn:aws:kms:local:000000000000:key/00000000-0000-4000-8000-000000000000#v1", annotations: sealed.annotations) }),
                ("key_id of another version", { try await p.decrypt(ciphertext: sealed.ciphertext, keyID: sealed.keyID.replacingOccurrences(of: "#" + version, with: "#v7"), annotations: sealed.annotations) }),
                ("garbage key_id", { try await p.decrypt(ciphertext: sealed.ciphertext, keyID: "not-a-key", annotations: sealed.annotations) }),
                ("flipped byte", { try await p.decrypt(ciphertext: flipped, keyID: sealed.keyID, annotations: sealed.annotations) }),
                ("truncated", { try await p.decrypt(ciphertext: sealed.ciphertext.prefix(sealed.ciphertext.count - 1), keyID: sealed.keyID, annotations: sealed.annotations) }),
                ("header only", { try await p.decrypt(ciphertext: sealed.ciphertext.prefix(25), keyID: sealed.keyID, annotations: sealed.annotations) }),
                ("changed annotation", { try await p.decrypt(ciphertext: sealed.ciphertext, keyID: sealed.keyID, annotations: changed) }),
                ("added annotation", { try await p.decrypt(ciphertext: sealed.ciphertext, keyID: sealed.keyID, annotations: added) }),
                ("no annotations", { try await p.decrypt(ciphertext: sealed.ciphertext, keyID: sealed.keyID, annotations: [:]) }),
            ]
            var messages = Set<String>()
            for (name, attempt) in cases {
                let (code, message) = await rpcCode(attempt)
                #expect(code == .invalidArgument, "\(name): \(String(describing: code)) \(message)")
                messages.insert(message)
            }
            #expect(messages.count == 1, "every refusal reads the same: \(messages)")
            #expect(try await p.decrypt(sealed).count == 32, "the genuine request still works")
        }
    }

    @Test func aDisabledKEKIsAFailedPreconditionUntilEnabledAgain() async throws {
        try await Plugin.with { p in
            let sealed = try await p.encrypt(seed())
            _ = try p.kek("DisableKey")
            let (decryptCode, _) = await rpcCode { try await p.decrypt(sealed) }
            #expect(decryptCode == .failedPrecondition)
            let (encryptCode, _) = await rpcCode { try await p.encrypt(seed()) }
            #expect(encryptCode == .failedPrecondition)
            #expect(try await p.status().healthz != "ok")
            _ = try p.kek("EnableKey")
            #expect(try await p.decrypt(sealed).count == 32)
            #expect(try await p.status().healthz == "ok")
        }
    }

    @Test func oversizedInputsAreRefused() async throws {
        try await Plugin.with { p in
            let (big, _) = await rpcCode { try await p.encrypt(Data(count: 4096)) }
            #expect(big == .invalidArgument)
            let (empty, _) = await rpcCode { try await p.encrypt(Data()) }
            #expect(empty == .invalidArgument)
            let (huge, _) = await rpcCode { try await p.encrypt(Data(count: 128 * 1024)) }
            #expect(huge != nil, "a message over the transport's limit is refused")
        }
    }

    @Test func twoHundredFiftySixConcurrentCallsAllSucceed() async throws {
        try await Plugin.with { p in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<256 {
                    group.addTask {
                        let plaintext = seed()
                        let sealed = try await p.encrypt(plaintext, uid: "concurrent-\(i)")
                        return try await p.decrypt(sealed) == plaintext
                    }
                }
                var good = 0
                for try await ok in group where ok { good += 1 }
                #expect(good == 256)
            }
        }
    }

    @Test func theRequestUIDAndTheCallerAreInTheAuditLog() async throws {
        try await Plugin.with { p in
            let sealed = try await p.encrypt(seed(), uid: "uid-of-encrypt-7f3a")
            _ = try await p.decrypt(sealed, uid: "uid-of-decrypt-91bc")
            let events = try auditEvents(p.daemon.stateDirectory + "/audit")
            func line(_ operation: String, _ uid: String) -> [String: Any]? {
                events.first { e in
                    e["operation"] as? String == operation
                        && (e["encryption_context"] as? [String: String])?["kubernetes:uid"] == uid
                }
            }
            let encrypt = try #require(line("Encrypt", "uid-of-encrypt-7f3a"))
            let decrypt = try #require(line("Decrypt", "uid-of-decrypt-91bc"))
            for e in [encrypt, decrypt] {
                #expect(e["outcome"] as? String == "allowed")
                #expect((e["principal"] as? [String: Any])?["uid"] as? Int == Int(getuid()))
                #expect(e["key_version"] as? Int == 1)
            }
            // The Decrypt line also names the Encrypt it opens (the bound annotation).
            #expect((decrypt["encryption_context"] as? [String: String])?["encrypt-uid.kms.p11kms.io"] == "uid-of-encrypt-7f3a")
        }
    }
}
