import Foundation
import KMSModel
import Testing

/// Expects `body` to throw a `KMSError` called `name`, and returns it.
@discardableResult
func expectKMSError<T>(_ name: KMSError.Name, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> T) -> KMSError? {
    do {
        let value = try body()
        Issue.record("expected \(name.rawValue), got a value: \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as KMSError {
        #expect(error.name == name, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(name.rawValue), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A JSON object from bytes, or an empty dictionary.
func jsonObject(_ data: Data) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
}

@Suite("AWS JSON 1.1 codec")
struct CodecTests {
    @Test("PascalCase wire names decode into lowerCamel properties; map keys pass unchanged")
    func decodesWireNames() throws {
        let plaintext = Data("attack at dawn".utf8)
        let body = """
            {"KeyId":"alias/app","Plaintext":"\(plaintext.base64EncodedString())",
             "EncryptionContext":{"Tenant":"a","purpose":"b"},"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}
            """
        let request = try AWSJSONCodec.decode(EncryptRequest.self, from: Data(body.utf8))
        #expect(request.keyId == "alias/app")
        #expect(request.plaintext == plaintext)
        #expect(request.encryptionAlgorithm == .symmetricDefault)
        // Encryption-context keys are data, not member names: no case mapping.
        #expect(request.encryptionContext == ["Tenant": "a", "purpose": "b"])
    }

    @Test("lowerCamel members encode with AWS's wire names, dates as epoch seconds, blobs as base64")
    func encodesWireNames() throws {
        let metadata = KeyMetadata(
            awsAccountId: "111122223333", keyId: "1234abcd-12ab-34cd-56ef-1234567890ab",
            arn: "arn:aws:kms:local:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            creationDate: Date(timeIntervalSince1970: 1_800_000_000), enabled: true, description: "d",
            keyUsage: .encryptDecrypt, keyState: .enabled, deletionDate: nil, validTo: nil, origin: .awsKMS,
            expirationModel: nil, keyManager: "CUSTOMER", customerMasterKeySpec: .symmetricDefault,
            keySpec: .symmetricDefault, encryptionAlgorithms: [.symmetricDefault], signingAlgorithms: nil,
            macAlgorithms: nil, multiRegion: false, pendingDeletionWindowInDays: nil, currentKeyMaterialId: "m1")
        let data = try AWSJSONCodec.encode(CreateKeyResponse(keyMetadata: metadata))
        let text = String(decoding: data, as: UTF8.self)
        let object = try #require(jsonObject(data)["KeyMetadata"] as? [String: Any])
        #expect(object["AWSAccountId"] as? String == "111122223333")
        #expect(object["AwsAccountId"] == nil)
        #expect(object["KeyId"] as? String == metadata.keyId)
        #expect(object["Arn"] as? String == metadata.arn)
        #expect(object["KeyState"] as? String == "Enabled")
        #expect(object["KeyUsage"] as? String == "ENCRYPT_DECRYPT")
        #expect(object["EncryptionAlgorithms"] as? [String] == ["SYMMETRIC_DEFAULT"])
        #expect(object["CurrentKeyMaterialId"] as? String == "m1")
        #expect(object["MultiRegion"] as? Bool == false)
        // A timestamp is a JSON number of seconds, not a string.
        #expect((object["CreationDate"] as? NSNumber)?.doubleValue == 1_800_000_000)
        #expect(text.contains("\"CreationDate\":1800000000"))
        // Absent optionals are left out, not sent as null.
        #expect(object["DeletionDate"] == nil)
        #expect(!text.contains("null"))
        // No lowerCamel name leaks onto the wire.
        for key in object.keys {
            #expect(key.first?.isUppercase == true, "\(key)")
        }

        let blob = Data((0...255).map { UInt8($0) })
        let response = EncryptResponse(ciphertextBlob: blob, keyId: metadata.arn, encryptionAlgorithm: .symmetricDefault)
        let encrypted = jsonObject(try AWSJSONCodec.encode(response))
        #expect(encrypted["CiphertextBlob"] as? String == blob.base64EncodedString())
        #expect(encrypted["KeyId"] as? String == metadata.arn)
        #expect(encrypted["EncryptionAlgorithm"] as? String == "SYMMETRIC_DEFAULT")

        // The encryption context comes back with its keys as given.
        let request = EncryptRequest(keyId: "k", plaintext: Data([1]), encryptionContext: ["Tenant": "a", "purpose": "b"])
        let encoded = jsonObject(try AWSJSONCodec.encode(request))
        #expect(encoded["EncryptionContext"] as? [String: String] == ["Tenant": "a", "purpose": "b"])
    }

    @Test("encode then decode gives back the request")
    func roundTrip() throws {
        let request = EncryptRequest(keyId: "alias/x", plaintext: Data("p".utf8), encryptionContext: ["K": "v", "k": "V"],
                                     encryptionAlgorithm: .symmetricDefault)
        let back = try AWSJSONCodec.decode(EncryptRequest.self, from: try AWSJSONCodec.encode(request))
        #expect(back.keyId == request.keyId)
        #expect(back.plaintext == request.plaintext)
        #expect(back.encryptionContext == request.encryptionContext)
        #expect(back.encryptionAlgorithm == request.encryptionAlgorithm)
    }

    @Test("an empty body is {}")
    func emptyBody() throws {
        let request = try AWSJSONCodec.decode(EncryptRequest.self, from: Data())
        #expect(request.keyId == nil)
        #expect(request.plaintext == nil)
        let list = try AWSJSONCodec.decode(ListKeysRequest.self, from: Data())
        #expect(list.limit == nil)
    }

    @Test("EmptyResponse encodes as {}")
    func emptyResponse() throws {
        #expect(try AWSJSONCodec.encode(EmptyResponse()) == Data("{}".utf8))
    }

    @Test("a body that is not a JSON object is a SerializationException",
          arguments: ["not json", "{\"KeyId\":", "[]", "[{\"KeyId\":\"k\"}]", "\"a string\"", "5", "null", "true"])
    func notAnObject(_ body: String) {
        expectKMSError(.serialization) { try AWSJSONCodec.decode(EncryptRequest.self, from: Data(body.utf8)) }
    }

    @Test("a member of the wrong JSON type is a SerializationException")
    func wrongType() {
        let e = expectKMSError(.serialization) {
            try AWSJSONCodec.decode(EncryptRequest.self, from: Data(#"{"KeyId": 5}"#.utf8))
        }
        #expect(e?.message.contains("KeyId") == true, "\(String(describing: e))")
        expectKMSError(.serialization) {
            try AWSJSONCodec.decode(EncryptRequest.self, from: Data(#"{"EncryptionContext": ["a"]}"#.utf8))
        }
        expectKMSError(.serialization) {
            try AWSJSONCodec.decode(EncryptRequest.self, from: Data(#"{"EncryptionContext": {"a": 1}}"#.utf8))
        }
    }

    @Test("an unknown enum value is a ValidationException naming the member")
    func unknownEnum() {
        let e = expectKMSError(.validation) {
            try AWSJSONCodec.decode(CreateKeyRequest.self, from: Data(#"{"KeySpec":"NOPE"}"#.utf8))
        }
        #expect(e?.message.contains("KeySpec") == true, "\(String(describing: e))")
        let usage = expectKMSError(.validation) {
            try AWSJSONCodec.decode(CreateKeyRequest.self, from: Data(#"{"KeyUsage":"encrypt_decrypt"}"#.utf8))
        }
        #expect(usage?.message.contains("KeyUsage") == true, "\(String(describing: usage))")
    }

    @Test("invalid base64 in a blob member is a ValidationException naming it")
    func invalidBase64() {
        let e = expectKMSError(.validation) {
            try AWSJSONCodec.decode(EncryptRequest.self, from: Data(#"{"KeyId":"k","Plaintext":"not*base64!"}"#.utf8))
        }
        #expect(e?.message.contains("Plaintext") == true, "\(String(describing: e))")
    }

    @Test("errorBody is exactly {\"__type\":...,\"message\":...}")
    func errorBody() throws {
        let body = AWSJSONCodec.errorBody(KMSError(.notFound, "Key 'k' does not exist"))
        #expect(String(decoding: body, as: UTF8.self) == #"{"__type":"NotFoundException","message":"Key 'k' does not exist"}"#)
        // Quotes and control characters in a message stay valid JSON.
        let tricky = KMSError(.validation, "bad \"value\"\n\\ and /slash")
        let object = jsonObject(AWSJSONCodec.errorBody(tricky))
        #expect(Set(object.keys) == ["__type", "message"])
        #expect(object["__type"] as? String == "ValidationException")
        #expect(object["message"] as? String == tricky.message)
    }
}
