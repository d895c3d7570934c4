import Crypto
import Foundation
import Synchronization
import KMSClient
import KMSModel
import Testing
import _CryptoExtras
#if canImport(Glibc)
import Glibc
#endif

/// Every operation family through a real daemon, and the errors the client throws.
@Suite struct KMSClientTests {
    @Test func keysAliasesTagsPoliciesAndRotation() async throws {
        try await withClient { kms in
            let created = try await kms.createKey(CreateKeyRequest(description: "client test",
                                                                   tags: [Tag(tagKey: "team", tagValue: "a")]))
            let keyId = created.keyMetadata.keyId
            #expect(created.keyMetadata.keySpec == .symmetricDefault)
            #expect(created.keyMetadata.arn.hasSuffix(":key/" + keyId))

            try await kms.updateKeyDescription(UpdateKeyDescriptionRequest(keyId: keyId, description: "renamed"))
            #expect(try await kms.describeKey(KeyIdRequest(keyId: keyId)).keyMetadata.description == "renamed")
            #expect(try await kms.listKeys().keys.contains { $0.keyId == keyId })
            try await kms.disableKey(KeyIdRequest(keyId: keyId))
            #expect(try await kms.describeKey(KeyIdRequest(keyId: keyId)).keyMetadata.keyState == .disabled)
            try await kms.enableKey(KeyIdRequest(keyId: keyId))

            try await kms.createAlias(AliasRequest(aliasName: "alias/client", targetKeyId: keyId))
            #expect(try await kms.describeKey(KeyIdRequest(keyId: "alias/client")).keyMetadata.keyId == keyId)
            let other = try await kms.createKey().keyMetadata.keyId
            try await kms.updateAlias(AliasRequest(aliasName: "alias/client", targetKeyId: other))
            let aliases = try await kms.listAliases(ListAliasesRequest(keyId: other)).aliases
            #expect(aliases.map(\.aliasName) == ["alias/client"])
            try await kms.deleteAlias(AliasRequest(aliasName: "alias/client"))
            #expect(try await kms.listAliases(ListAliasesRequest(keyId: other)).aliases.isEmpty)

            try await kms.tagResource(TagResourceRequest(keyId: keyId, tags: [Tag(tagKey: "env", tagValue: "test")]))
            try await kms.untagResource(UntagResourceRequest(keyId: keyId, tagKeys: ["team"]))
            let tags = try await kms.listResourceTags(ListResourceTagsRequest(keyId: keyId)).tags
            #expect(tags == [Tag(tagKey: "env", tagValue: "test")])

            #expect(try await kms.listKeyPolicies(ListResourceTagsRequest(keyId: keyId)).policyNames == ["default"])
            let policy = try await kms.getKeyPolicy(GetKeyPolicyRequest(keyId: keyId)).policy
            try await kms.putKeyPolicy(PutKeyPolicyRequest(keyId: keyId, policy: policy))
            #expect(try await kms.getKeyPolicy(GetKeyPolicyRequest(keyId: keyId)).policy.contains("Statement"))

            try await kms.enableKeyRotation(EnableKeyRotationRequest(keyId: keyId, rotationPeriodInDays: 90))
            let status = try await kms.getKeyRotationStatus(KeyIdRequest(keyId: keyId))
            #expect(status.keyRotationEnabled && status.rotationPeriodInDays == 90)
            try await kms.disableKeyRotation(KeyIdRequest(keyId: keyId))
            #expect(try await kms.rotateKeyOnDemand(KeyIdRequest(keyId: keyId)).keyId.hasSuffix(keyId))
            #expect(try await kms.listKeyRotations(ListKeyRotationsRequest(keyId: keyId)).rotations.count == 1)

            let deletion = try await kms.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId: other, pendingWindowInDays: 7))
            #expect(deletion.keyState == .pendingDeletion)
            #expect(try await kms.cancelKeyDeletion(KeyIdRequest(keyId: other)).keyId.hasSuffix(other))
        }
    }

    @Test func encryptionDataKeysSigningMacsRandomAndImport() async throws {
        try await withClient { kms in
            let keyId = try await kms.createKey().keyMetadata.keyId
            let context = ["purpose": "test"]
            let encrypted = try await kms.encrypt(EncryptRequest(keyId: keyId, plaintext: Data("hello".utf8),
                                                                 encryptionContext: context))
            let decrypted = try await kms.decrypt(DecryptRequest(ciphertextBlob: encrypted.ciphertextBlob,
                                                                 encryptionContext: context))
            #expect(decrypted.plaintext == Data("hello".utf8))
            let second = try await kms.createKey().keyMetadata.keyId
            let moved = try await kms.reEncrypt(ReEncryptRequest(ciphertextBlob: encrypted.ciphertextBlob,
                                                                 destinationKeyId: second,
                                                                 sourceEncryptionContext: context))
            #expect(try await kms.decrypt(DecryptRequest(ciphertextBlob: moved.ciphertextBlob)).plaintext
                == Data("hello".utf8))

            let dataKey = try await kms.generateDataKey(GenerateDataKeyRequest(keyId: keyId, keySpec: .aes256))
            #expect(dataKey.plaintext?.count == 32)
            #expect(try await kms.decrypt(DecryptRequest(ciphertextBlob: dataKey.ciphertextBlob)).plaintext
                == dataKey.plaintext)
            let blind = try await kms.generateDataKeyWithoutPlaintext(GenerateDataKeyRequest(keyId: keyId, numberOfBytes: 16))
            #expect(blind.plaintext == nil)
            let pair = try await kms.generateDataKeyPair(GenerateDataKeyPairRequest(keyId: keyId, keyPairSpec: .eccNistP256))
            #expect(pair.privateKeyPlaintext != nil && !pair.publicKey.isEmpty)
            let blindPair = try await kms.generateDataKeyPairWithoutPlaintext(
                GenerateDataKeyPairRequest(keyId: keyId, keyPairSpec: .eccNistP256))
            #expect(blindPair.privateKeyPlaintext == nil)

            let signingKey = try await kms.createKey(CreateKeyRequest(keyUsage: .signVerify, keySpec: .eccNistP256))
                .keyMetadata.keyId
            let message = Data("sign me".utf8)
            let signature = try await kms.sign(SignRequest(keyId: signingKey, message: message, signingAlgorithm: .ecdsaSHA256))
            let verified = try await kms.verify(VerifyRequest(keyId: signingKey, message: message,
                                                              signature: signature.signature, signingAlgorithm: .ecdsaSHA256))
            #expect(verified.signatureValid)
            let publicKey = try await kms.getPublicKey(KeyIdRequest(keyId: signingKey)).publicKey
            let local = try P256.Signing.PublicKey(derRepresentation: publicKey)
            #expect(local.isValidSignature(try P256.Signing.ECDSASignature(derRepresentation: signature.signature),
                                           for: message))

            let macKey = try await kms.createKey(CreateKeyRequest(keyUsage: .generateVerifyMac, keySpec: .hmac256))
                .keyMetadata.keyId
            let mac = try await kms.generateMac(GenerateMacRequest(keyId: macKey, message: message, macAlgorithm: .hmacSHA256))
            #expect(try await kms.verifyMac(VerifyMacRequest(keyId: macKey, message: message, macAlgorithm: .hmacSHA256,
                                                             mac: mac.mac)).macValid)

            let random = try await kms.generateRandom(GenerateRandomRequest(numberOfBytes: 64))
            #expect(random.plaintext.count == 64)

            // Bring your own key: wrap 32 bytes to the HSM's RSA key and use them.
            let external = try await kms.createKey(CreateKeyRequest(origin: .external)).keyMetadata.keyId
            let parameters = try await kms.getParametersForImport(GetParametersForImportRequest(
                keyId: external, wrappingAlgorithm: .rsaesOAEPSHA1, wrappingKeySpec: .rsa2048))
            let wrappingKey = try _RSA.Encryption.PublicKey(derRepresentation: parameters.publicKey)
            let material = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
            let wrapped = try wrappingKey.encrypt(material, padding: .PKCS1_OAEP)
            _ = try await kms.importKeyMaterial(ImportKeyMaterialRequest(
                keyId: external, importToken: parameters.importToken, encryptedKeyMaterial: wrapped,
                expirationModel: .keyMaterialDoesNotExpire))
            let imported = try await kms.encrypt(EncryptRequest(keyId: external, plaintext: Data("byok".utf8)))
            #expect(try await kms.decrypt(DecryptRequest(ciphertextBlob: imported.ciphertextBlob)).plaintext
                == Data("byok".utf8))
            _ = try await kms.deleteImportedKeyMaterial(KeyIdRequest(keyId: external))
            #expect(try await kms.describeKey(KeyIdRequest(keyId: external)).keyMetadata.keyState == .pendingImport)

            let health = try await kms.health()
            #expect(health.isHealthy && health.tokenPresent && health.loggedIn)
        }
    }

    @Test func serviceErrorsAreKMSErrorsWithAWSNames() async throws {
        try await withClient { kms in
            let missing = "11111111-2222-3333-4444-555555555555"
            let notFound = await #expect(throws: KMSError.self) {
                try await kms.describeKey(KeyIdRequest(keyId: missing))
            }
            #expect(notFound?.name == .notFound)
            #expect(notFound?.message.isEmpty == false)

            let keyId = try await kms.createKey().keyMetadata.keyId
            let encrypted = try await kms.encrypt(EncryptRequest(keyId: keyId, plaintext: Data("x".utf8),
                                                                 encryptionContext: ["a": "b"]))
            let wrongContext = await #expect(throws: KMSError.self) {
                try await kms.decrypt(DecryptRequest(ciphertextBlob: encrypted.ciphertextBlob))
            }
            #expect(wrongContext?.name == .invalidCiphertext)

            let invalid = await #expect(throws: KMSError.self) {
                try await kms.generateRandom(GenerateRandomRequest(numberOfBytes: 0))
            }
            #expect(invalid?.name == .validation)
        }
    }

    @Test func transportFailuresAreKMSClientErrors() async throws {
        let kms = try KMSClient(socketPath: "/tmp/p11kms-no-such-dir/p11kms.sock")
        let error = await #expect(throws: KMSClientError.self) { try await kms.listKeys() }
        #expect(error?.code == .cannotConnect)
        #expect(error?.message.contains("/tmp/p11kms-no-such-dir/p11kms.sock") == true)
        #expect(error?.message.contains("is p11kmsd running") == true)

        // A socket file nobody listens on.
        let path = "/tmp/p11kms-c-stale-\(UInt32.random(in: 0...UInt32.max)).sock"
        let stale = try KMSClient(socketPath: path)
        let (fd, bound) = bindUnixSocket(at: path)
        #expect(bound == 0)
        close(fd)
        defer { unlink(path) }
        let refused = await #expect(throws: KMSClientError.self) { try await stale.listKeys() }
        #expect(refused?.code == .cannotConnect)

        #expect(throws: KMSClientError.self) { try KMSClient(socketPath: String(repeating: "x", count: 200)) }
        try await kms.shutdown()
        try await stale.shutdown()
    }

    @Test func socketPathDefaults() {
        #expect(KMSClient.defaultSocketPath(environment: ["P11KMS_SOCKET": "/x.sock"], inspect: { _ in .trusted }) == "/x.sock")
        #expect(KMSClient.defaultSocketPath(environment: [:], inspect: { _ in .trusted }) == "./.p11kms-dev/p11kms.sock")
        #expect(KMSClient.defaultSocketPath(environment: [:], inspect: { _ in .absent }) == "/run/p11kms/p11kms.sock")
        let warnings = Mutex<[String]>([])
        let path = KMSClient.defaultSocketPath(environment: [:], inspect: { _ in .untrusted("it is not yours") },
                                               warn: { message in warnings.withLock { $0.append(message) } })
        #expect(path == "/run/p11kms/p11kms.sock")
        #expect(warnings.withLock { $0 } == [
            "not using ./.p11kms-dev/p11kms.sock: it is not yours. Name the socket with --socket or $P11KMS_SOCKET to use it anyway.",
        ])
    }

    /// Binds a listening Unix socket at `path` and returns its descriptor.
    private func listen(at path: String) throws -> Int32 {
        let (fd, bound) = bindUnixSocket(at: path)
        #expect(bound == 0 && Glibc.listen(fd, 1) == 0)
        return fd
    }

    /// An impostor's socket planted under a shared, world-writable directory
    /// (as /tmp is) is not trusted; the caller's own socket in its own
    /// directory is; each failing condition is named.
    @Test func theDevSocketIsTrustedOnlyWhenItAndItsDirectoryAreTheCallers() throws {
        let shared = FileManager.default.temporaryDirectory.appendingPathComponent("devsock-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: shared + "/.p11kms-dev", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let path = shared + "/.p11kms-dev/p11kms.sock"
        #expect(DevSocketTrust.inspect(path) == .absent)
        let fd = try listen(at: path)
        defer { close(fd) }
        chmod(shared + "/.p11kms-dev", 0o700)
        chmod(path, 0o660)
        #expect(DevSocketTrust.inspect(path) == .trusted)

        // Someone else's uid: the impostor's directory and socket.
        guard case .untrusted(let notOurs) = DevSocketTrust.inspect(path, uid: getuid() &+ 4242) else {
            Issue.record("a socket of another uid was trusted"); return
        }
        #expect(notOurs.contains("belongs to uid"))

        chmod(shared + "/.p11kms-dev", 0o1777)
        guard case .untrusted(let shared1777) = DevSocketTrust.inspect(path) else {
            Issue.record("a socket in a world-writable directory was trusted"); return
        }
        #expect(shared1777.contains("writable by others"))

        chmod(shared + "/.p11kms-dev", 0o700)
        chmod(path, 0o666)
        guard case .untrusted(let worldSocket) = DevSocketTrust.inspect(path) else {
            Issue.record("a world-writable socket was trusted"); return
        }
        #expect(worldSocket.contains("writable by everyone"))

        // The caller's own symlink to the directory is as good as the directory;
        // someone else's symlink is not.
        chmod(path, 0o660)
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("devsock-link-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: link, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: link) }
        #expect(symlink(shared + "/.p11kms-dev", link + "/.p11kms-dev") == 0)
        #expect(DevSocketTrust.inspect(link + "/.p11kms-dev/p11kms.sock") == .trusted)
        guard case .untrusted(let linked) = DevSocketTrust.inspect(link + "/.p11kms-dev/p11kms.sock", uid: getuid() &+ 4242) else {
            Issue.record("someone else's symlink was trusted"); return
        }
        #expect(linked.contains("symlink that belongs to uid"))

        // A regular file where the socket should be.
        unlink(path)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o600]))
        guard case .untrusted(let file) = DevSocketTrust.inspect(path) else {
            Issue.record("a regular file was trusted as the socket"); return
        }
        #expect(file.contains("not a socket"))
    }
}

/// A Unix stream socket bound at `path`: its descriptor and bind(2)'s result.
private func bindUnixSocket(at path: String) -> (fd: Int32, bound: Int32) {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    return (fd, bound)
}
