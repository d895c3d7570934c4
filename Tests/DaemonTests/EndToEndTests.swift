import _CryptoExtras
import Crypto
import DaemonTestSupport
import Foundation
import Testing

/// Every operation through the socket of a real daemon, success and errors,
/// asserting HTTP status and `__type`.
@Suite("Every operation end to end", .serialized)
struct EndToEndTests {
    final class Recorder {
        var succeeded: Set<String> = []
        let daemon: DaemonProcess
        init(_ daemon: DaemonProcess) { self.daemon = daemon }

        @discardableResult
        func ok(_ op: String, _ body: [String: Any] = [:], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
            let (status, json) = try daemon.callJSON(op, body)
            #expect(status == 200, "\(op): \(json)", sourceLocation: sourceLocation)
            if status == 200 { succeeded.insert(op) }
            return json
        }

        func fails(_ op: String, _ body: [String: Any], _ type: String, status expected: Int = 400,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
            let (status, json) = try daemon.callJSON(op, body)
            #expect(status == expected && json["__type"] as? String == type, "\(op): \(status) \(json)",
                    sourceLocation: sourceLocation)
            #expect((json["message"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
        }
    }

    static let allOperations: Set<String> = [
        "CreateKey", "DescribeKey", "ListKeys", "UpdateKeyDescription", "EnableKey", "DisableKey", "ScheduleKeyDeletion",
        "CancelKeyDeletion", "CreateAlias", "UpdateAlias", "DeleteAlias", "ListAliases", "TagResource", "UntagResource",
        "ListResourceTags", "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies", "EnableKeyRotation", "DisableKeyRotation",
        "GetKeyRotationStatus", "RotateKeyOnDemand", "ListKeyRotations", "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GetPublicKey",
        "Sign", "Verify", "GenerateMac", "VerifyMac", "GenerateRandom", "GetParametersForImport", "ImportKeyMaterial",
        "DeleteImportedKeyMaterial",
    ]

    @Test func everyOperationSucceedsAndFailsAsAWSDoes() async throws {
        try await withDaemon { daemon in
            let r = Recorder(daemon)
            let b64 = { (s: String) in Data(s.utf8).base64EncodedString() }

            // Keys.
            let meta = try r.ok("CreateKey", ["Description": "e2e", "Tags": [["TagKey": "team", "TagValue": "a"]]])["KeyMetadata"] as! [String: Any]
            let key = meta["KeyId"] as! String
            #expect(meta["Arn"] as? String == "arn:aws:kms:local:000000000000:key/\(key)")
            #expect(meta["CreationDate"] is Double)
            try r.fails("CreateKey", ["KeySpec": "NOPE"], "ValidationException")
            try r.fails("CreateKey", ["KeySpec": "ECC_NIST_P256", "KeyUsage": "ENCRYPT_DECRYPT"], "ValidationException")
            // AWS requires KeyUsage for every spec but SYMMETRIC_DEFAULT, HMAC included.
            try r.fails("CreateKey", ["KeySpec": "HMAC_256"], "ValidationException")
            try r.fails("CreateKey", ["KeySpec": "RSA_2048"], "ValidationException")
            try r.ok("DescribeKey", ["KeyId": key])
            try r.fails("DescribeKey", ["KeyId": "00000000-0000-0000-0000-000000000000"], "NotFoundException")
            try r.fails("DescribeKey", [:], "ValidationException")
            #expect((try r.ok("ListKeys", ["Limit": 10])["Keys"] as? [Any])?.count == 1)
            try r.fails("ListKeys", ["Limit": 0], "ValidationException")
            try r.fails("ListKeys", ["Marker": "bogus"], "InvalidMarkerException")
            try r.ok("UpdateKeyDescription", ["KeyId": key, "Description": "renamed"])
            try r.fails("UpdateKeyDescription", ["KeyId": key], "ValidationException")
            try r.ok("DisableKey", ["KeyId": key])
            try r.fails("Encrypt", ["KeyId": key, "Plaintext": b64("x")], "DisabledException")
            try r.ok("EnableKey", ["KeyId": key])

            // Aliases.
            try r.ok("CreateAlias", ["AliasName": "alias/e2e", "TargetKeyId": key])
            try r.fails("CreateAlias", ["AliasName": "alias/e2e", "TargetKeyId": key], "AlreadyExistsException")
            try r.fails("CreateAlias", ["AliasName": "bad name", "TargetKeyId": key], "ValidationException")
            try r.fails("CreateAlias", ["AliasName": "e2e", "TargetKeyId": key], "ValidationException")
            try r.fails("CreateAlias", ["AliasName": "alias/", "TargetKeyId": key], "InvalidAliasNameException")
            try r.fails("CreateAlias", ["AliasName": "alias/aws/e2e", "TargetKeyId": key], "NotAuthorizedException")
            let otherMeta = try r.ok("CreateKey")
            let other = try #require(otherMeta["KeyMetadata"] as? [String: Any])["KeyId"] as! String
            try r.ok("UpdateAlias", ["AliasName": "alias/e2e", "TargetKeyId": other])
            try r.fails("UpdateAlias", ["AliasName": "alias/none", "TargetKeyId": other], "NotFoundException")
            #expect((try r.ok("ListAliases", ["KeyId": other])["Aliases"] as? [[String: Any]])?.first?["AliasName"] as? String == "alias/e2e")
            try r.fails("ListAliases", ["Marker": "bogus"], "InvalidMarkerException")
            try r.ok("DeleteAlias", ["AliasName": "alias/e2e"])
            try r.fails("DeleteAlias", ["AliasName": "alias/e2e"], "NotFoundException")

            // Tags.
            try r.ok("TagResource", ["KeyId": key, "Tags": [["TagKey": "env", "TagValue": "prod"]]])
            try r.fails("TagResource", ["KeyId": key, "Tags": [["TagKey": "aws:x", "TagValue": "y"]]], "TagException")
            try r.ok("UntagResource", ["KeyId": key, "TagKeys": ["team"]])
            #expect((try r.ok("ListResourceTags", ["KeyId": key])["Tags"] as? [[String: String]]) == [["TagKey": "env", "TagValue": "prod"]])
            try r.fails("ListResourceTags", ["KeyId": "alias/none"], "NotFoundException")

            // Policies.
            let policy = try r.ok("GetKeyPolicy", ["KeyId": key, "PolicyName": "default"])["Policy"] as! String
            try r.ok("PutKeyPolicy", ["KeyId": key, "Policy": policy])
            try r.fails("PutKeyPolicy", ["KeyId": key, "Policy": "{not json"], "MalformedPolicyDocumentException")
            #expect(try r.ok("ListKeyPolicies", ["KeyId": key])["PolicyNames"] as? [String] == ["default"])

            // Rotation.
            try r.ok("EnableKeyRotation", ["KeyId": key, "RotationPeriodInDays": 90])
            try r.fails("EnableKeyRotation", ["KeyId": key, "RotationPeriodInDays": 10], "ValidationException")
            #expect(try r.ok("GetKeyRotationStatus", ["KeyId": key])["KeyRotationEnabled"] as? Bool == true)
            let v1 = try r.ok("Encrypt", ["KeyId": key, "Plaintext": b64("before rotation"), "EncryptionContext": ["a": "b"]])["CiphertextBlob"] as! String
            try r.ok("RotateKeyOnDemand", ["KeyId": key])
            #expect((try r.ok("ListKeyRotations", ["KeyId": key])["Rotations"] as? [Any])?.count == 1)
            try r.ok("DisableKeyRotation", ["KeyId": key])

            // Encryption.
            let decrypted = try r.ok("Decrypt", ["CiphertextBlob": v1, "EncryptionContext": ["a": "b"]])
            #expect(decrypted["Plaintext"] as? String == b64("before rotation"))
            try r.fails("Decrypt", ["CiphertextBlob": v1, "EncryptionContext": ["a": "c"]], "InvalidCiphertextException")
            try r.fails("Decrypt", ["CiphertextBlob": b64("not a ciphertext blob at all, clearly")], "InvalidCiphertextException")
            let moved = try r.ok("ReEncrypt", ["CiphertextBlob": v1, "SourceEncryptionContext": ["a": "b"], "DestinationKeyId": other])
            #expect(moved["SourceKeyId"] as? String == meta["Arn"] as? String)
            try r.fails("ReEncrypt", ["CiphertextBlob": v1, "DestinationKeyId": other], "InvalidCiphertextException")
            try r.fails("Encrypt", ["KeyId": key, "Plaintext": Data(count: 4097).base64EncodedString()], "ValidationException")
            let dk = try r.ok("GenerateDataKey", ["KeyId": key, "KeySpec": "AES_256"])
            #expect((Data(base64Encoded: dk["Plaintext"] as! String))?.count == 32)
            try r.fails("GenerateDataKey", ["KeyId": key], "ValidationException")
            #expect(try r.ok("GenerateDataKeyWithoutPlaintext", ["KeyId": key, "NumberOfBytes": 16])["Plaintext"] == nil)
            let pair = try r.ok("GenerateDataKeyPair", ["KeyId": key, "KeyPairSpec": "ECC_NIST_P256"])
            let pkcs8 = Data(base64Encoded: pair["PrivateKeyPlaintext"] as! String)!
            #expect(try P256.Signing.PrivateKey(derRepresentation: pkcs8).publicKey.derRepresentation
                    == Data(base64Encoded: pair["PublicKey"] as! String))
            try r.ok("GenerateDataKeyPairWithoutPlaintext", ["KeyId": key, "KeyPairSpec": "RSA_2048"])
            try r.fails("GenerateDataKeyPair", ["KeyId": key, "KeyPairSpec": "SM2"], "ValidationException")

            // Signing.
            let signer = (try r.ok("CreateKey", ["KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"])["KeyMetadata"] as! [String: Any])["KeyId"] as! String
            let spki = Data(base64Encoded: try r.ok("GetPublicKey", ["KeyId": signer])["PublicKey"] as! String)!
            let signature = try r.ok("Sign", ["KeyId": signer, "Message": b64("msg"), "SigningAlgorithm": "ECDSA_SHA_256"])["Signature"] as! String
            #expect(try P256.Signing.PublicKey(derRepresentation: spki).isValidSignature(
                P256.Signing.ECDSASignature(derRepresentation: Data(base64Encoded: signature)!), for: SHA256.hash(data: Data("msg".utf8))))
            #expect(try r.ok("Verify", ["KeyId": signer, "Message": b64("msg"), "Signature": signature,
                                        "SigningAlgorithm": "ECDSA_SHA_256"])["SignatureValid"] as? Bool == true)
            try r.fails("Verify", ["KeyId": signer, "Message": b64("other"), "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"],
                        "KMSInvalidSignatureException")
            try r.fails("Sign", ["KeyId": key, "Message": b64("msg"), "SigningAlgorithm": "ECDSA_SHA_256"], "InvalidKeyUsageException")
            try r.fails("GetPublicKey", ["KeyId": key], "UnsupportedOperationException")

            // MACs and random.
            let macKey = (try r.ok("CreateKey", ["KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"])["KeyMetadata"] as! [String: Any])["KeyId"] as! String
            let mac = try r.ok("GenerateMac", ["KeyId": macKey, "Message": b64("m"), "MacAlgorithm": "HMAC_SHA_256"])["Mac"] as! String
            #expect(try r.ok("VerifyMac", ["KeyId": macKey, "Message": b64("m"), "Mac": mac, "MacAlgorithm": "HMAC_SHA_256"])["MacValid"] as? Bool == true)
            try r.fails("VerifyMac", ["KeyId": macKey, "Message": b64("n"), "Mac": mac, "MacAlgorithm": "HMAC_SHA_256"], "KMSInvalidMacException")
            #expect(Data(base64Encoded: try r.ok("GenerateRandom", ["NumberOfBytes": 64])["Plaintext"] as! String)?.count == 64)
            try r.fails("GenerateRandom", ["NumberOfBytes": 2000], "ValidationException")

            // Import.
            let external = (try r.ok("CreateKey", ["Origin": "EXTERNAL"])["KeyMetadata"] as! [String: Any])["KeyId"] as! String
            try r.fails("Encrypt", ["KeyId": external, "Plaintext": b64("x")], "KMSInvalidStateException")
            let params = try r.ok("GetParametersForImport", ["KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_1",
                                                             "WrappingKeySpec": "RSA_2048"])
            #expect(params["ParametersValidTo"] is Double)
            let wrappingKey = try _RSA.Encryption.PublicKey(derRepresentation: Data(base64Encoded: params["PublicKey"] as! String)!)
            let material = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
            let encrypted = try wrappingKey.encrypt(material, padding: .PKCS1_OAEP).base64EncodedString()
            try r.fails("ImportKeyMaterial", ["KeyId": external, "ImportToken": b64("wrong"), "EncryptedKeyMaterial": encrypted,
                                              "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"], "InvalidImportTokenException")
            try r.ok("ImportKeyMaterial", ["KeyId": external, "ImportToken": params["ImportToken"]!, "EncryptedKeyMaterial": encrypted,
                                           "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"])
            try r.ok("Encrypt", ["KeyId": external, "Plaintext": b64("imported")])
            try r.ok("DeleteImportedKeyMaterial", ["KeyId": external])
            try r.fails("DeleteImportedKeyMaterial", ["KeyId": key], "UnsupportedOperationException")

            // Deletion.
            let scheduled = try r.ok("ScheduleKeyDeletion", ["KeyId": other, "PendingWindowInDays": 7])
            #expect(scheduled["KeyState"] as? String == "PendingDeletion" && scheduled["DeletionDate"] is Double)
            try r.fails("ScheduleKeyDeletion", ["KeyId": key, "PendingWindowInDays": 3], "ValidationException")
            try r.fails("Encrypt", ["KeyId": other, "Plaintext": b64("x")], "KMSInvalidStateException")
            try r.ok("CancelKeyDeletion", ["KeyId": other])
            try r.fails("CancelKeyDeletion", ["KeyId": other], "KMSInvalidStateException")

            #expect(r.succeeded == Self.allOperations, "missing: \(Self.allOperations.subtracting(r.succeeded).sorted())")
        }
    }
}
