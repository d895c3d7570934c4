import Foundation
import SoftHSMTestSupport
import Testing

/// The subcommands the main KMS CLI tests do not reach: re-encrypt,
/// update-alias, data key pairs, the no-plaintext data key variants, and a
/// whole key import with the material wrapped by OpenSSL.
@Suite("p11kms KMS subcommands, the rest", .serialized)
struct KMSCLIRemainingTests {
    @Test func reEncryptAliasesAndDataKeyVariants() async throws {
        try await withKMSCLIDaemon { d in
            let a = try await d.p11kms("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let b = try await d.p11kms("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            await #expect(try d.p11kms("create-alias", "--alias-name", "alias/moving", "--target-key-id", a).status == 0)
            await #expect(try d.p11kms("update-alias", "--alias-name", "alias/moving", "--target-key-id", b).status == 0)
            await #expect(try d.p11kms("describe-key", "--key-id", "alias/moving", "--query", "KeyMetadata.KeyId", "--output", "text")
                .stdout.contains(b))

            let ct = try await d.p11kms("encrypt", "--key-id", a, "--plaintext", Data("moving".utf8).base64EncodedString(),
                                  "--encryption-context", "from=a", "--query", "CiphertextBlob", "--output", "text")
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let moved = try await d.p11kms("re-encrypt", "--ciphertext-blob", ct, "--source-encryption-context", "from=a",
                                     "--destination-key-id", "alias/moving", "--destination-encryption-context", "to=b")
            #expect(moved.status == 0 && (moved.json["KeyId"] as? String)?.hasSuffix(b) == true, "\(moved.stderr)")
            let back = try await d.p11kms("decrypt", "--ciphertext-blob", moved.json["CiphertextBlob"] as? String ?? "",
                                    "--encryption-context", "to=b", "--query", "Plaintext", "--output", "text")
            #expect(Data(base64Encoded: back.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == Data("moving".utf8))

            let without = try await d.p11kms("generate-data-key-without-plaintext", "--key-id", a, "--key-spec", "AES_128")
            #expect(without.status == 0 && without.json["Plaintext"] == nil && without.json["CiphertextBlob"] != nil)
            let pair = try await d.p11kms("generate-data-key-pair", "--key-id", a, "--key-pair-spec", "ECC_NIST_P256")
            #expect(pair.status == 0 && pair.json["PrivateKeyPlaintext"] != nil && pair.json["PublicKey"] != nil, "\(pair.stderr)")
            let pairWithout = try await d.p11kms("generate-data-key-pair-without-plaintext", "--key-id", a, "--key-pair-spec", "RSA_2048")
            #expect(pairWithout.status == 0 && pairWithout.json["PrivateKeyPlaintext"] == nil
                    && pairWithout.json["PrivateKeyCiphertextBlob"] != nil)
            let wrongSpec = try await d.p11kms("generate-data-key-pair", "--key-id", a, "--key-pair-spec", "NOT_A_SPEC")
            #expect(wrongSpec.status == 2)
        }
    }

    @Test func importKeyMaterialWrappedByOpenSSL() async throws {
        try await withKMSCLIDaemon { d in
            let key = try await d.p11kms("create-key", "--origin", "EXTERNAL", "--query", "KeyMetadata.KeyId", "--output", "text")
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let params = try await d.p11kms("get-parameters-for-import", "--key-id", key, "--wrapping-algorithm", "RSAES_OAEP_SHA_1",
                                      "--wrapping-key-spec", "RSA_2048")
            #expect(params.status == 0, "\(params.stderr)")
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = { (name: String) in dir.appendingPathComponent(name).path }
            try Data(base64Encoded: params.json["PublicKey"] as? String ?? "")?.write(to: URL(fileURLWithPath: path("wrap.der")))
            try Data(base64Encoded: params.json["ImportToken"] as? String ?? "")?.write(to: URL(fileURLWithPath: path("token.bin")))
            try Data((0..<32).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: path("material.bin")))
            let openssl = try await ChildProcess.run("/usr/bin/openssl", [
                "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", path("wrap.der"),
                "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1",
                "-in", path("material.bin"), "-out", path("wrapped.bin")])
            #expect(openssl.status == 0, "\(openssl.errors)")
            let imported = try await d.p11kms("import-key-material", "--key-id", key, "--import-token", "fileb://" + path("token.bin"),
                                        "--encrypted-key-material", "fileb://" + path("wrapped.bin"),
                                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
            #expect(imported.status == 0, "\(imported.stderr)")
            let encrypted = try await d.p11kms("encrypt", "--key-id", key, "--plaintext", Data("imported".utf8).base64EncodedString())
            #expect(encrypted.status == 0)
            let deleted = try await d.p11kms("delete-imported-key-material", "--key-id", key)
            #expect(deleted.status == 0, "\(deleted.stderr)")
            let refused = try await d.p11kms("encrypt", "--key-id", key, "--plaintext", Data("x".utf8).base64EncodedString())
            #expect(refused.status == 1 && refused.stderr.contains("KMSInvalidStateException"))
        }
    }
}
