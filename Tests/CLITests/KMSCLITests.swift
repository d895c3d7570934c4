import DaemonTestSupport
import Foundation
import SoftHSMTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real `p11kmsd --dev` for the KMS subcommand tests (DaemonTestSupport's),
/// on its own state directory; the `p11kms` binary is built beside it.
final class KMSCLIDaemon: Sendable {
    private let daemon: DaemonProcess
    var stateDirectory: String { daemon.stateDirectory }
    var socketPath: String { daemon.socketPath }

    /// Where `p11kmsd` and `p11kms` were built.
    static func buildDirectory() throws -> URL {
        URL(fileURLWithPath: try DaemonProcess.binary()).deletingLastPathComponent()
    }

    init(arguments: [String] = []) async throws { daemon = try await DaemonProcess(arguments: arguments) }

    func stop() async throws {
        _ = try await daemon.stop()
        daemon.removeState()
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
        }
    }

    /// Runs `p11kms ARGS --socket SOCKET`.
    func p11kms(_ arguments: String...) async throws -> Result { try await p11kms(arguments) }

    func p11kms(_ arguments: [String]) async throws -> Result {
        let r = try await ChildProcess.run(try Self.buildDirectory().appendingPathComponent("p11kms").path,
                                     arguments + ["--socket", socketPath])
        return Result(status: r.status, stdout: r.output, stderr: r.errors)
    }
}

func withKMSCLIDaemon(arguments: [String] = [], _ body: (KMSCLIDaemon) async throws -> Void) async throws {
    let daemon = try await KMSCLIDaemon(arguments: arguments)
    do {
        try await body(daemon)
    } catch {
        try? await daemon.stop()
        throw error
    }
    try await daemon.stop()
}

@Suite("p11kms KMS subcommands", .serialized)
struct KMSCLITests {
    @Test func createDescribeJSONAndText() async throws {
        try await withKMSCLIDaemon { d in
            let created = try await d.p11kms("create-key", "--description", "cli key", "--tags", "TagKey=team,TagValue=ops",
                                       "TagKey=env,TagValue=test")
            #expect(created.status == 0, "\(created.stderr)")
            let metadata = try #require(created.json["KeyMetadata"] as? [String: Any])
            let keyId = try #require(metadata["KeyId"] as? String)
            #expect(metadata["Description"] as? String == "cli key")
            #expect(metadata["KeySpec"] as? String == "SYMMETRIC_DEFAULT")

            let described = try await d.p11kms("describe-key", "--key-id", keyId)
            #expect(described.status == 0)
            #expect((described.json["KeyMetadata"] as? [String: Any])?["KeyState"] as? String == "Enabled")

            // aws-style text: KEYMETADATA then the scalars, tab-separated, in member-name order.
            let text = try await d.p11kms("describe-key", "--key-id", keyId, "--output", "text")
            #expect(text.status == 0)
            let fields = text.stdout.split(separator: "\n").first.map { $0.split(separator: "\t", omittingEmptySubsequences: false) } ?? []
            #expect(fields.first == "KEYMETADATA")
            #expect(fields.contains(Substring(keyId)))
            #expect(fields.contains("Enabled"))
            #expect(text.stdout.contains("ENCRYPTIONALGORITHMS\tSYMMETRIC_DEFAULT"))

            let queried = try await d.p11kms("describe-key", "--key-id", keyId, "--query", "KeyMetadata.KeyId", "--output", "text")
            #expect(queried.stdout == keyId + "\n")

            // Dates print as the aws CLI prints them: ISO 8601 with the offset.
            let creation = try await d.p11kms("describe-key", "--key-id", keyId, "--query", "KeyMetadata.CreationDate", "--output", "text")
            let date = creation.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let isoPattern = #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$"#
            let isISO = date.range(of: isoPattern, options: .regularExpression) != nil
            #expect(isISO, "\(creation.stdout)")

            // --query is JMESPath: projections, filters, functions.
            let ids = try await d.p11kms("list-keys", "--query", "Keys[].KeyId", "--output", "text")
            #expect(ids.stdout.split(separator: "\t").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.contains(keyId),
                    "\(ids.stdout)")
            let count = try await d.p11kms("list-keys", "--query", "length(Keys[?KeyId=='\(keyId)'])", "--output", "text")
            #expect(count.stdout == "1\n", "\(count.stdout)")
            let badQuery = try await d.p11kms("list-keys", "--query", "Keys[?")
            #expect(badQuery.status == 2 && badQuery.stderr.contains("JMESPath"), "\(badQuery.stderr)")

            let tags = try await d.p11kms("list-resource-tags", "--key-id", keyId)
            let tagList = tags.json["Tags"] as? [[String: String]] ?? []
            #expect(Set(tagList.compactMap { $0["TagKey"] }) == ["team", "env"])

            let listed = try await d.p11kms("list-keys")
            let keys = listed.json["Keys"] as? [[String: Any]] ?? []
            #expect(keys.contains { $0["KeyId"] as? String == keyId })

            // Empty answers print nothing.
            let updated = try await d.p11kms("update-key-description", "--key-id", keyId, "--description", "renamed")
            #expect(updated.status == 0 && updated.stdout.isEmpty)
            let again = try await d.p11kms("describe-key", "--key-id", keyId, "--query", "KeyMetadata.Description", "--output", "text")
            #expect(again.stdout == "renamed\n")

            let scheduled = try await d.p11kms("schedule-key-deletion", "--key-id", keyId, "--pending-window-in-days", "7")
            #expect(scheduled.json["KeyState"] as? String == "PendingDeletion")
            #expect(scheduled.json["PendingWindowInDays"] as? Int == 7)
            let cancelled = try await d.p11kms("cancel-key-deletion", "--key-id", keyId)
            #expect(cancelled.status == 0)
        }
    }

    @Test func encryptDecryptWithFilesAndContext() async throws {
        try await withKMSCLIDaemon { d in
            let keyId = try await d.p11kms("create-key", "--query", "KeyMetadata.KeyId", "--output", "text")
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kmscli-" + UUID().uuidString)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let plaintext = Data((0..<300).map { UInt8($0 % 256) })
            let plainFile = dir.appendingPathComponent("plain.bin")
            try plaintext.write(to: plainFile)

            let encrypted = try await d.p11kms("encrypt", "--key-id", keyId, "--plaintext", "fileb://" + plainFile.path,
                                         "--encryption-context", "purpose=test,app=cli")
            #expect(encrypted.status == 0, "\(encrypted.stderr)")
            let blob = try #require(Data(base64Encoded: encrypted.json["CiphertextBlob"] as? String ?? ""))
            let cipherFile = dir.appendingPathComponent("cipher.bin")
            try blob.write(to: cipherFile)

            // The same context as JSON.
            let decrypted = try await d.p11kms("decrypt", "--ciphertext-blob", "fileb://" + cipherFile.path,
                                         "--encryption-context", #"{"app":"cli","purpose":"test"}"#)
            #expect(decrypted.status == 0, "\(decrypted.stderr)")
            #expect(Data(base64Encoded: decrypted.json["Plaintext"] as? String ?? "") == plaintext)

            // --query Plaintext --output text is the base64 alone.
            let text = try await d.p11kms("decrypt", "--ciphertext-blob", "fileb://" + cipherFile.path,
                                    "--encryption-context", "purpose=test,app=cli", "--query", "Plaintext", "--output", "text")
            #expect(Data(base64Encoded: text.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == plaintext)

            // A literal --plaintext is base64; file:// holds base64 text.
            let b64File = dir.appendingPathComponent("plain.b64")
            try Data("aGVsbG8=\n".utf8).write(to: b64File)
            for input in ["aGVsbG8=", "file://" + b64File.path] {
                let sealed = try await d.p11kms("encrypt", "--key-id", keyId, "--plaintext", input,
                                          "--query", "CiphertextBlob", "--output", "text")
                let opened = try await d.p11kms("decrypt", "--ciphertext-blob",
                                          sealed.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                                          "--query", "Plaintext", "--output", "text")
                #expect(opened.stdout == "aGVsbG8=\n")
            }

            // The wrong context: InvalidCiphertextException, exit 1.
            let wrong = try await d.p11kms("decrypt", "--ciphertext-blob", "fileb://" + cipherFile.path)
            #expect(wrong.status == 1)
            #expect(wrong.stderr.contains("An error occurred (InvalidCiphertextException) when calling the Decrypt operation:"))
            #expect(wrong.stdout.isEmpty)

            let dataKey = try await d.p11kms("generate-data-key", "--key-id", keyId, "--key-spec", "AES_256")
            #expect(Data(base64Encoded: dataKey.json["Plaintext"] as? String ?? "")?.count == 32)
            let random = try await d.p11kms("generate-random", "--number-of-bytes", "16")
            #expect(Data(base64Encoded: random.json["Plaintext"] as? String ?? "")?.count == 16)
        }
    }

    @Test func signAndVerify() async throws {
        try await withKMSCLIDaemon { d in
            let keyId = try await d.p11kms("create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY",
                                     "--query", "KeyMetadata.KeyId", "--output", "text")
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kmscli-" + UUID().uuidString)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let messageFile = dir.appendingPathComponent("message.txt")
            try Data("sign me".utf8).write(to: messageFile)

            let signed = try await d.p11kms("sign", "--key-id", keyId, "--message", "fileb://" + messageFile.path,
                                      "--signing-algorithm", "ECDSA_SHA_256")
            #expect(signed.status == 0, "\(signed.stderr)")
            let signature = try #require(Data(base64Encoded: signed.json["Signature"] as? String ?? ""))
            let signatureFile = dir.appendingPathComponent("sig.der")
            try signature.write(to: signatureFile)

            let verified = try await d.p11kms("verify", "--key-id", keyId, "--message", "fileb://" + messageFile.path,
                                        "--signature", "fileb://" + signatureFile.path, "--signing-algorithm", "ECDSA_SHA_256")
            #expect(verified.status == 0)
            #expect(verified.json["SignatureValid"] as? Bool == true)

            let forged = try await d.p11kms("verify", "--key-id", keyId, "--message", Data("other".utf8).base64EncodedString(),
                                      "--signature", "fileb://" + signatureFile.path, "--signing-algorithm", "ECDSA_SHA_256")
            #expect(forged.status == 1)
            #expect(forged.stderr.contains("(KMSInvalidSignatureException)"))

            let publicKey = try await d.p11kms("get-public-key", "--key-id", keyId)
            #expect(publicKey.json["KeySpec"] as? String == "ECC_NIST_P256")
        }
    }

    @Test func aliasesAndPolicy() async throws {
        try await withKMSCLIDaemon { d in
            let keyId = try await d.p11kms("create-key", "--query", "KeyMetadata.KeyId", "--output", "text")
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let created = try await d.p11kms("create-alias", "--alias-name", "alias/cli-test", "--target-key-id", keyId)
            #expect(created.status == 0 && created.stdout.isEmpty, "\(created.stderr)")

            let listed = try await d.p11kms("list-aliases", "--key-id", keyId)
            let aliases = listed.json["Aliases"] as? [[String: Any]] ?? []
            #expect(aliases.map { $0["AliasName"] as? String } == ["alias/cli-test"])
            #expect(aliases.first?["TargetKeyId"] as? String == keyId)
            let text = try await d.p11kms("list-aliases", "--output", "text")
            #expect(text.stdout.contains("ALIASES\t"))
            #expect(text.stdout.contains("\talias/cli-test\t"))

            // The alias works as a --key-id.
            let described = try await d.p11kms("describe-key", "--key-id", "alias/cli-test",
                                         "--query", "KeyMetadata.KeyId", "--output", "text")
            #expect(described.stdout == keyId + "\n")

            let policy = try await d.p11kms("get-key-policy", "--key-id", keyId)
            #expect(policy.json["PolicyName"] as? String == "default")
            let policies = try await d.p11kms("list-key-policies", "--key-id", keyId)
            #expect(policies.json["PolicyNames"] as? [String] == ["default"])

            let deleted = try await d.p11kms("delete-alias", "--alias-name", "alias/cli-test")
            #expect(deleted.status == 0)
            let after = try await d.p11kms("list-aliases", "--key-id", keyId)
            #expect((after.json["Aliases"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func tagsPolicyRotationAndMacs() async throws {
        try await withKMSCLIDaemon { d in
            let keyId = try await d.p11kms("create-key", "--query", "KeyMetadata.KeyId", "--output", "text")
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            await #expect(try d.p11kms("tag-resource", "--key-id", keyId, "--tags", #"[{"TagKey":"a","TagValue":"1"}]"#,
                                 "--tags", "TagKey=b,TagValue=2").status == 0)
            await #expect(try d.p11kms("untag-resource", "--key-id", keyId, "--tag-keys", "a").status == 0)
            let tags = try await d.p11kms("list-resource-tags", "--key-id", keyId).json["Tags"] as? [[String: String]]
            #expect(tags == [["TagKey": "b", "TagValue": "2"]])

            // put-key-policy reads file://; the policy we got back is accepted unchanged.
            let policy = try await d.p11kms("get-key-policy", "--key-id", keyId, "--query", "Policy", "--output", "text").stdout
            let policyFile = d.stateDirectory + "-policy.json"
            try Data(policy.utf8).write(to: URL(fileURLWithPath: policyFile))
            defer { try? FileManager.default.removeItem(atPath: policyFile) }
            let put = try await d.p11kms("put-key-policy", "--key-id", keyId, "--policy", "file://" + policyFile)
            #expect(put.status == 0, "\(put.stderr)")

            await #expect(try d.p11kms("enable-key-rotation", "--key-id", keyId, "--rotation-period-in-days", "90").status == 0)
            let status = try await d.p11kms("get-key-rotation-status", "--key-id", keyId)
            #expect(status.json["KeyRotationEnabled"] as? Bool == true)
            #expect(status.json["RotationPeriodInDays"] as? Int == 90)
            await #expect(try d.p11kms("rotate-key-on-demand", "--key-id", keyId).status == 0)
            let rotations = try await d.p11kms("list-key-rotations", "--key-id", keyId).json["Rotations"] as? [[String: Any]]
            #expect(rotations?.count == 1)

            await #expect(try d.p11kms("disable-key", "--key-id", keyId).status == 0)
            let disabled = try await d.p11kms("encrypt", "--key-id", keyId, "--plaintext", "aGk=")
            #expect(disabled.status == 1 && disabled.stderr.contains("(DisabledException)"))
            await #expect(try d.p11kms("enable-key", "--key-id", keyId).status == 0)

            let hmac = try await d.p11kms("create-key", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC",
                                    "--query", "KeyMetadata.KeyId", "--output", "text")
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let mac = try await d.p11kms("generate-mac", "--key-id", hmac, "--message", "aGk=", "--mac-algorithm", "HMAC_SHA_256",
                                   "--query", "Mac", "--output", "text").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let verified = try await d.p11kms("verify-mac", "--key-id", hmac, "--message", "aGk=", "--mac-algorithm", "HMAC_SHA_256",
                                        "--mac", mac)
            #expect(verified.json["MacValid"] as? Bool == true)
        }
    }

    @Test func errorsAndUsage() async throws {
        try await withKMSCLIDaemon { d in
            let missing = try await d.p11kms("describe-key", "--key-id", "11111111-2222-3333-4444-555555555555")
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("An error occurred (NotFoundException) when calling the DescribeKey operation: "))
            #expect(missing.stdout.isEmpty)

            // Usage errors exit 2, as the aws CLI's do.
            let usage = try await d.p11kms("describe-key")
            #expect(usage.status == 2)
            #expect(usage.stderr.contains("--key-id"))
            let badBase64 = try await d.p11kms("encrypt", "--key-id", "alias/x", "--plaintext", "not base64!")
            #expect(badBase64.status == 2)
            let badEnum = try await d.p11kms("create-key", "--key-spec", "AES_999")
            #expect(badEnum.status == 2)
            #expect(badEnum.stderr.contains("SYMMETRIC_DEFAULT"))
        }
        // No daemon: exit 1 with a message naming the socket.
        let daemon = try await KMSCLIDaemon()
        try await daemon.stop()
        let unreachable = try await daemon.p11kms("list-keys")
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains(daemon.socketPath))
    }
}
