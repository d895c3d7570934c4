import Crypto
import Foundation
import KMSModel

/// Envelope encryption: a stream encrypted locally with AES-256-GCM under a
/// fresh data key from GenerateDataKey, the data key kept (encrypted by KMS)
/// in the envelope's header. Decryption costs one Decrypt call per envelope.
///
/// ```swift
/// let envelope = EnvelopeEncryption(client: kms, keyId: "alias/backups", encryptionContext: ["file": "db.dump"])
/// try await envelope.encryptFile(at: "db.dump", to: "db.dump.p11e")
/// try await EnvelopeEncryption.decryptFile(client: kms, at: "db.dump.p11e", to: "db.dump",
///                                          encryptionContext: ["file": "db.dump"])
/// ```
///
/// **Format, version 1** (integers big-endian):
///
/// ```
/// header  = "P11E" | version u8 = 1 | frame size u32
///           | u16 len | key ARN | u16 len | canonical encryption context
///           | u16 len | encrypted data key (CiphertextBlob) | header tag (16)
/// frame   = 0x00 | ciphertext (frame size bytes) | tag (16)          -- regular
/// final   = 0x01 | length u32 (0 ... frame size) | ciphertext | tag (16)
/// ```
///
/// The envelope is the header, any number of regular frames and exactly one
/// final frame, and nothing after it. The canonical encryption context is
/// KMS's (DESIGN.md §3): pairs sorted by key, each u16-length-prefixed.
///
/// - The **header tag** is AES-256-GCM under the data key over no plaintext,
///   with nonce `FF FF FF FF ‖ 00×8` and the header bytes before it as AAD.
/// - **Frame i** (counted from 0) is AES-256-GCM under the data key with
///   nonce `00 00 00 00 ‖ i as u64` and AAD `SHA-256(header with its tag) ‖
///   i as u64 ‖ frame type byte`.
///
/// So a changed header fails its tag (or, for the context and data key,
/// KMS's Decrypt), and every frame is bound to the header, its position and
/// whether it is the last: removed, reordered, duplicated or altered frames
/// fail their tag; a stream cut at a frame boundary lacks its final frame,
/// and one cut inside a frame is short. The nonces never repeat because
/// every envelope has its own data key.
///
/// The plaintext data key lives only in a `SymmetricKey` (swift-crypto's
/// zeroed-on-free storage); the copies the client decoded are wiped.
public struct EnvelopeEncryption: Sendable {
    public static let defaultFrameSize = 64 << 10

    public let client: KMSClient
    public let keyId: String
    public let encryptionContext: [String: String]
    public let frameSize: Int

    /// - Parameters:
    ///   - keyId: a SYMMETRIC_DEFAULT key (id, ARN, alias or alias ARN).
    ///   - encryptionContext: bound to the data key; decryption must give the same.
    ///   - frameSize: plaintext bytes per frame, 1 byte ... 16 MiB.
    public init(client: KMSClient, keyId: String, encryptionContext: [String: String] = [:],
                frameSize: Int = EnvelopeEncryption.defaultFrameSize) {
        self.client = client
        self.keyId = keyId
        self.encryptionContext = encryptionContext
        self.frameSize = frameSize
    }

    // MARK: Encryption

    /// Encrypts all of `input` into `output`, then calls `output.finish()`;
    /// on failure calls `output.discard()` and throws.
    /// - Returns: the header written (key ARN, context, frame size).
    @discardableResult
    public func encrypt<Input: EnvelopeInput, Output: EnvelopeOutput>(
        from input: inout Input, to output: inout Output
    ) async throws -> EnvelopeHeader {
        var reader = EnvelopeReader(input)
        defer { input = reader.release() }
        do {
            let header = try await encrypt(reader: &reader, output: &output)
            try await output.finish()
            return header
        } catch {
            await output.discard()
            throw error
        }
    }

    private func encrypt<Input: EnvelopeInput, Output: EnvelopeOutput>(
        reader: inout EnvelopeReader<Input>, output: inout Output
    ) async throws -> EnvelopeHeader {
        guard EnvelopeHeader.frameSizes.contains(frameSize) else {
            throw EnvelopeError(.invalidFrameSize, "frame size \(frameSize) is outside 1 ... \(EnvelopeHeader.frameSizes.upperBound)")
        }
        _ = try EnvelopeHeader.canonical(encryptionContext)   // fails early, before asking KMS
        var response = try await client.generateDataKey(GenerateDataKeyRequest(
            keyId: keyId, keySpec: .aes256, encryptionContext: encryptionContext.isEmpty ? nil : encryptionContext))
        let key = try Self.takeDataKey(from: &response.plaintext)
        let header = EnvelopeHeader(keyArn: response.keyId, encryptionContext: encryptionContext,
                                    frameSize: frameSize, encryptedDataKey: Array(response.ciphertextBlob))
        var headerBytes = try header.serialized()
        headerBytes += try AES.GCM.seal([UInt8](), using: key, nonce: Self.headerNonce, authenticating: headerBytes).tag
        try await output.write(headerBytes)
        let headerHash = Array(SHA256.hash(data: headerBytes))

        // The frame buffer is reused; the plaintext is sealed where the reader
        // holds it, and frame-sized reads keep each frame in one chunk.
        reader.readSize = frameSize
        var frame: [UInt8] = []
        frame.reserveCapacity(1 + 4 + frameSize + EnvelopeHeader.tagLength)
        var counter: UInt64 = 0
        while true {
            // One byte of look-ahead: a full frame is the last only if nothing follows.
            let available = try await reader.prefetch(frameSize + 1)
            let isFinal = available <= frameSize
            let length = isFinal ? available : frameSize
            let type = isFinal ? Self.finalFrame : Self.regularFrame
            let box = try reader.consume(length) { plaintext in
                try AES.GCM.seal(plaintext, using: key, nonce: Self.frameNonce(counter),
                                 authenticating: Self.frameAAD(headerHash, counter, type))
            }
            frame.removeAll(keepingCapacity: true)
            frame.append(type)
            if isFinal { frame.appendBigEndian(UInt32(length)) }
            frame.append(contentsOf: box.ciphertext)
            frame.append(contentsOf: box.tag)
            try await output.write(frame)
            if isFinal { return header }
            counter += 1
        }
    }

    /// Encrypts `plaintext` in memory.
    public func encrypt(_ plaintext: some Sequence<UInt8>) async throws -> [UInt8] {
        var input = EnvelopeMemoryInput(plaintext)
        var output = EnvelopeMemoryOutput()
        try await encrypt(from: &input, to: &output)
        return output.bytes
    }

    /// Encrypts the file at `source` into `destination`, which appears only
    /// once complete.
    @discardableResult
    public func encryptFile(at source: String, to destination: String) async throws -> EnvelopeHeader {
        guard let handle = FileHandle(forReadingAtPath: source) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: source])
        }
        defer { try? handle.close() }
        var input = EnvelopeFileHandleInput(handle)
        var output = try EnvelopeFileOutput(path: destination)
        return try await encrypt(from: &input, to: &output)
    }

    // MARK: Decryption

    /// Decrypts an envelope from `input` into `output` with one Decrypt call.
    ///
    /// Plaintext is written a frame at a time, each only after its tag
    /// verified. When a later check fails (a bad frame, truncation, trailing
    /// bytes), `output.discard()` is called and an `EnvelopeError` thrown:
    /// `EnvelopeMemoryOutput` and `EnvelopeFileOutput` then hold nothing,
    /// while a stream's reader must discard what it already received. What
    /// KMS refuses for other reasons (access, a disabled key, a `keyId` that
    /// is not the envelope's) is thrown as the service's `KMSError`.
    ///
    /// - Parameters:
    ///   - encryptionContext: the context the envelope was made with; any
    ///     other fails with `encryptionContextMismatch` before KMS is asked.
    ///   - keyId: when given, Decrypt succeeds only if the data key was made
    ///     under this key (KMS's `IncorrectKeyException` otherwise). Without
    ///     it, any key the caller may use for Decrypt is accepted.
    /// - Returns: the verified header.
    @discardableResult
    public static func decrypt<Input: EnvelopeInput, Output: EnvelopeOutput>(
        client: KMSClient, from input: inout Input, to output: inout Output,
        encryptionContext: [String: String] = [:], keyId: String? = nil
    ) async throws -> EnvelopeHeader {
        var reader = EnvelopeReader(input)
        defer { input = reader.release() }
        do {
            let header = try await decrypt(client: client, reader: &reader, output: &output,
                                           encryptionContext: encryptionContext, keyId: keyId)
            try await output.finish()
            return header
        } catch {
            await output.discard()
            throw error
        }
    }

    /// Decrypts `envelope` in memory.
    public static func decrypt(client: KMSClient, _ envelope: some Sequence<UInt8>,
                               encryptionContext: [String: String] = [:], keyId: String? = nil) async throws -> [UInt8] {
        var input = EnvelopeMemoryInput(envelope)
        var output = EnvelopeMemoryOutput()
        try await decrypt(client: client, from: &input, to: &output, encryptionContext: encryptionContext, keyId: keyId)
        return output.bytes
    }

    /// Decrypts the file at `source` into `destination`, which appears only
    /// when the whole envelope verified: a failure leaves no file behind.
    @discardableResult
    public static func decryptFile(client: KMSClient, at source: String, to destination: String,
                                   encryptionContext: [String: String] = [:], keyId: String? = nil) async throws -> EnvelopeHeader {
        guard let handle = FileHandle(forReadingAtPath: source) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: source])
        }
        defer { try? handle.close() }
        var input = EnvelopeFileHandleInput(handle)
        var output = try EnvelopeFileOutput(path: destination)
        return try await decrypt(client: client, from: &input, to: &output,
                                 encryptionContext: encryptionContext, keyId: keyId)
    }

    private static func decrypt<Input: EnvelopeInput, Output: EnvelopeOutput>(
        client: KMSClient, reader: inout EnvelopeReader<Input>, output: inout Output,
        encryptionContext: [String: String], keyId: String?
    ) async throws -> EnvelopeHeader {
        let (header, readBytes) = try await EnvelopeHeader.read(from: &reader)
        var headerBytes = readBytes
        let tag = try await reader.read(exactly: EnvelopeHeader.tagLength)
        guard tag.count == EnvelopeHeader.tagLength else {
            throw EnvelopeError(.malformedHeader, "not a p11kms envelope, or its header is damaged: the input ends inside the header tag")
        }
        guard header.encryptionContext == encryptionContext else {
            throw EnvelopeError(.encryptionContextMismatch,
                                "the encryption context given is not the one the envelope was made with")
        }
        var response: DecryptResponse
        do {
            response = try await client.decrypt(DecryptRequest(
                ciphertextBlob: Data(header.encryptedDataKey),
                encryptionContext: encryptionContext.isEmpty ? nil : encryptionContext, keyId: keyId))
        } catch let error as KMSError where error.name == .invalidCiphertext || error.name == .validation {
            throw EnvelopeError(.dataKeyRejected,
                                "KMS would not decrypt the envelope's data key (\(error.name.rawValue)): the header was altered, or the envelope was made under another encryption context")
        }
        let key = try takeDataKey(from: &response.plaintext)
        guard response.keyId == header.keyArn else {
            throw EnvelopeError(.headerAuthenticationFailed,
                                "the header names \(header.keyArn) but its data key was made under \(response.keyId)")
        }
        do {
            _ = try AES.GCM.open(AES.GCM.SealedBox(nonce: headerNonce, ciphertext: [UInt8](), tag: tag),
                                 using: key, authenticating: headerBytes)
        } catch {
            throw EnvelopeError(.headerAuthenticationFailed, "the envelope's header was altered (its tag does not verify)")
        }
        headerBytes += tag
        let headerHash = Array(SHA256.hash(data: headerBytes))

        // Reused for every frame; the sealed bytes are opened where the reader holds them.
        var plaintext: [UInt8] = []
        plaintext.reserveCapacity(header.frameSize)
        let recordSize = 1 + header.frameSize + EnvelopeHeader.tagLength
        var counter: UInt64 = 0
        while true {
            // A regular frame's whole record at once, read in step with the
            // records, so its sealed bytes are opened where the reader holds them.
            try await reader.prefetch(recordSize, exact: true)
            guard let type = try await reader.readByte() else {
                throw EnvelopeError(.truncated, "the envelope is truncated: it ends where frame \(counter) should begin, without a final frame")
            }
            let length: Int
            switch type {
            case regularFrame:
                length = header.frameSize
            case finalFrame:
                let field = try await reader.read(exactly: 4)
                guard field.count == 4 else {
                    throw EnvelopeError(.truncated, "the envelope is truncated inside frame \(counter)")
                }
                length = Int(field.bigEndianInteger(as: UInt32.self))
                guard length <= header.frameSize else {
                    throw EnvelopeError(.malformedFrame, "frame \(counter) is damaged: its length exceeds the frame size")
                }
            default:
                throw EnvelopeError(.malformedFrame, "frame \(counter) is damaged: unknown frame type \(type)")
            }
            let sealedLength = length + EnvelopeHeader.tagLength
            guard try await reader.prefetch(sealedLength) >= sealedLength else {
                throw EnvelopeError(.truncated, "the envelope is truncated inside frame \(counter)")
            }
            do {
                let opened = try reader.consume(sealedLength) { sealed in
                    try AES.GCM.open(AES.GCM.SealedBox(nonce: frameNonce(counter), ciphertext: sealed[..<length],
                                                       tag: sealed[length...]),
                                     using: key, authenticating: frameAAD(headerHash, counter, type))
                }
                plaintext.removeAll(keepingCapacity: true)
                plaintext.append(contentsOf: opened)
            } catch {
                throw EnvelopeError(.frameAuthenticationFailed,
                                    "frame \(counter) does not verify: the envelope was altered, or frames were removed, reordered or duplicated")
            }
            if type == finalFrame {
                // The last plaintext goes out only once the envelope is known whole.
                guard try await reader.readByte() == nil else {
                    throw EnvelopeError(.trailingData, "bytes follow the envelope's final frame")
                }
                try await output.write(plaintext)
                return header
            }
            try await output.write(plaintext)
            counter += 1
        }
    }

    // MARK: Pieces of the format

    static let regularFrame: UInt8 = 0x00
    static let finalFrame: UInt8 = 0x01

    static var headerNonce: AES.GCM.Nonce {
        try! AES.GCM.Nonce(data: [0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 8))
    }

    static func frameNonce(_ counter: UInt64) -> AES.GCM.Nonce {
        var bytes: [UInt8] = [0, 0, 0, 0]
        bytes.appendBigEndian(counter)
        return try! AES.GCM.Nonce(data: bytes)
    }

    static func frameAAD(_ headerHash: [UInt8], _ counter: UInt64, _ type: UInt8) -> [UInt8] {
        var aad = headerHash
        aad.appendBigEndian(counter)
        aad.append(type)
        return aad
    }

    /// Moves a 32-byte data key into a `SymmetricKey` and wipes the copy the
    /// response held.
    private static func takeDataKey(from plaintext: inout Data?) throws -> SymmetricKey {
        guard var bytes = plaintext else {
            throw KMSClientError(.malformedResponse, "KMS returned no plaintext data key")
        }
        plaintext = nil
        return try takeDataKey(from: &bytes)
    }

    private static func takeDataKey(from plaintext: inout Data) throws -> SymmetricKey {
        var bytes = plaintext
        plaintext = Data()   // `bytes` is now the only reference, so the wipe reaches the real bytes
        defer { secureZero(&bytes) }
        guard bytes.count == 32 else {
            throw KMSClientError(.malformedResponse, "KMS returned a data key of \(bytes.count) bytes, not 32")
        }
        return SymmetricKey(data: bytes)
    }
}
