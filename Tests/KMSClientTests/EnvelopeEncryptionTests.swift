import Crypto
import Foundation
@testable import KMSClient
import KMSModel
import SoftHSMTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Envelope encryption against a real daemon: round trips, and every kind of
/// damage failing with a clear error and no plaintext released.
@Suite struct EnvelopeEncryptionTests {
    static let context = ["purpose": "envelope-test", "tenant": "acme"]

    // MARK: Round trips

    @Test func roundTripsAroundFrameBoundaries() async throws {
        try await withClient { kms in
            let keyId = try await kms.createKey().keyMetadata.keyId
            let envelope = EnvelopeEncryption(client: kms, keyId: keyId, encryptionContext: Self.context)
            let frame = EnvelopeEncryption.defaultFrameSize
            for size in [0, 1, frame, frame + 1, 3 * frame + 17] {
                let plaintext = randomBytes(size)
                let sealed = try await envelope.encrypt(plaintext)
                let regular = size == 0 ? 0 : (size - 1) / frame
                let finalLength = size - regular * frame
                let headerLength = sealed.count - regular * (1 + frame + 16) - (1 + 4 + finalLength + 16)
                #expect(headerLength > 100 && headerLength < 400, "size \(size): envelope is header + frames")

                var input = EnvelopeMemoryInput(sealed)
                var output = RecordingOutput()
                let header = try await EnvelopeEncryption.decrypt(client: kms, from: &input, to: &output,
                                                                  encryptionContext: Self.context)
                #expect(output.written == plaintext, "size \(size) round trips")
                #expect(output.writes == regular + 1 && output.finished && !output.discarded)
                #expect(header.keyArn.hasSuffix(":key/" + keyId))
                #expect(header.encryptionContext == Self.context && header.frameSize == frame)
                // A fresh data key each time.
                #expect(try await envelope.encrypt(plaintext) != sealed)
            }
            #expect(try await EnvelopeEncryption.decrypt(client: kms, try await envelope.encrypt([]),
                                                         encryptionContext: Self.context).isEmpty)

            // Files, through an alias and with the key pinned on decryption.
            try await kms.createAlias(AliasRequest(aliasName: "alias/envelope", targetKeyId: keyId))
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let plaintext = randomBytes(200_000)
            _ = FileManager.default.createFile(atPath: directory + "/plain", contents: Data(plaintext))
            let byAlias = EnvelopeEncryption(client: kms, keyId: "alias/envelope", encryptionContext: Self.context,
                                             frameSize: 4096)
            try await byAlias.encryptFile(at: directory + "/plain", to: directory + "/sealed")
            try await EnvelopeEncryption.decryptFile(client: kms, at: directory + "/sealed", to: directory + "/opened",
                                                     encryptionContext: Self.context, keyId: "alias/envelope")
            #expect(FileManager.default.contents(atPath: directory + "/opened") == Data(plaintext))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["opened", "plain", "sealed"])

            let other = try await kms.createKey().keyMetadata.keyId
            let pinned = await #expect(throws: KMSError.self) {
                try await EnvelopeEncryption.decryptFile(client: kms, at: directory + "/sealed", to: directory + "/x",
                                                         encryptionContext: Self.context, keyId: other)
            }
            #expect(pinned?.name == .incorrectKey)
            #expect(!FileManager.default.fileExists(atPath: directory + "/x"))

            let badFrame = EnvelopeEncryption(client: kms, keyId: keyId, frameSize: 0)
            let invalid = await #expect(throws: EnvelopeError.self) { try await badFrame.encrypt([1]) }
            #expect(invalid?.code == .invalidFrameSize)
        }
    }

    /// 200 MiB through pipes both ways: plaintext pipe → encrypt → pipe, then
    /// ciphertext pipe → decrypt → pipe, with threads on the far ends.
    @Test func twoHundredMebibytesThroughPipes() async throws {
        signal(SIGPIPE, SIG_IGN)   // a failed stage closes its pipes; the far end must get EPIPE, not a signal
        try await withClient { kms in
            let keyId = try await kms.createKey().keyMetadata.keyId
            let envelope = EnvelopeEncryption(client: kms, keyId: keyId, encryptionContext: ["stream": "big"])
            let mebibytes = 200
            let block = randomBytes(1 << 20)

            let plainIn = Pipe(), cipherOut = Pipe()
            async let sentHash: [UInt8] = onThread {
                defer { try? plainIn.fileHandleForWriting.close() }
                var hash = SHA256()
                var chunk = block
                for i in 0..<mebibytes {
                    chunk.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(i).bigEndian, as: UInt64.self) }
                    hash.update(data: chunk)
                    try plainIn.fileHandleForWriting.write(contentsOf: chunk)
                }
                return Array(hash.finalize())
            }
            async let ciphertext: Data = onThread { ChildProcess.readToEnd(cipherOut.fileHandleForReading.fileDescriptor) }
            do {
                var input = EnvelopeFileHandleInput(plainIn.fileHandleForReading)
                var output = EnvelopeFileHandleOutput(cipherOut.fileHandleForWriting)
                try await envelope.encrypt(from: &input, to: &output)
            } catch {
                try? plainIn.fileHandleForReading.close()
                try? cipherOut.fileHandleForWriting.close()
                throw error
            }
            try cipherOut.fileHandleForWriting.close()
            let (expectedHash, sealed) = try await (sentHash, ciphertext)
            let frames = (mebibytes << 20) / EnvelopeEncryption.defaultFrameSize
            #expect(sealed.count > (mebibytes << 20) + frames * 17)

            let cipherIn = Pipe(), plainOut = Pipe()
            async let fed: Void = onThread {
                defer { try? cipherIn.fileHandleForWriting.close() }
                try cipherIn.fileHandleForWriting.write(contentsOf: sealed)
            }
            async let received: ([UInt8], Int) = onThread {
                var hash = SHA256()
                var count = 0
                // read(2) with EINTR retried: FileHandle's reads fail on a signal.
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                let fd = plainOut.fileHandleForReading.fileDescriptor
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    hash.update(data: buffer[0..<n])
                    count += n
                }
                return (Array(hash.finalize()), count)
            }
            do {
                var input = EnvelopeFileHandleInput(cipherIn.fileHandleForReading)
                var output = EnvelopeFileHandleOutput(plainOut.fileHandleForWriting)
                try await EnvelopeEncryption.decrypt(client: kms, from: &input, to: &output,
                                                     encryptionContext: ["stream": "big"])
            } catch {
                try? cipherIn.fileHandleForReading.close()
                try? plainOut.fileHandleForWriting.close()
                throw error
            }
            try plainOut.fileHandleForWriting.close()
            try await fed
            let (hash, count) = try await received
            #expect(count == mebibytes << 20)
            #expect(hash == expectedHash)
        }
    }

    // MARK: Damage

    /// 450 bytes in 100-byte frames: four regular frames (1 + 100 + 16 bytes)
    /// and a final one of 50 (1 + 4 + 50 + 16).
    @Test func everyKindOfDamageIsRefusedWithoutReleasingPlaintext() async throws {
        try await withClient { kms in
            let keyId = try await kms.createKey().keyMetadata.keyId
            let envelope = EnvelopeEncryption(client: kms, keyId: keyId, encryptionContext: Self.context, frameSize: 100)
            let plaintext = randomBytes(450)
            let sealed = try await envelope.encrypt(plaintext)
            let regular = 117
            let h = sealed.count - 4 * regular - 71   // header length, tag included
            func frame(_ i: Int) -> Range<Int> { (h + i * regular)..<(i < 4 ? h + (i + 1) * regular : sealed.count) }
            let damage = Damage(kms: kms, plaintext: plaintext, frameSize: 100)

            // Unchanged, it opens.
            #expect(try await EnvelopeEncryption.decrypt(client: kms, sealed, encryptionContext: Self.context) == plaintext)

            // Truncation at every frame boundary (the final frame missing), inside frames, inside the header.
            for i in 0...4 {
                await damage.expect(Array(sealed[..<frame(i).lowerBound]), .truncated, "cut before frame \(i)")
            }
            await damage.expect(Array(sealed[..<(h + 50)]), .truncated, "cut inside frame 0")
            await damage.expect(Array(sealed[..<(h + 2 * regular + 116)]), .truncated, "cut inside frame 2's tag")
            await damage.expect(Array(sealed[..<(sealed.count - 1)]), .truncated, "cut inside the final frame")
            await damage.expect(Array(sealed[..<(h - 5)]), .malformedHeader, "cut inside the header")
            await damage.expect([], .malformedHeader, "empty input")

            // Frames removed, swapped, duplicated, spliced from another envelope.
            await damage.expect(Array(sealed[..<frame(1).lowerBound] + sealed[frame(2).lowerBound...]),
                                .frameAuthenticationFailed, "frame 1 removed")
            await damage.expect(Array(sealed[..<frame(1).lowerBound] + sealed[frame(2)] + sealed[frame(1)]
                                      + sealed[frame(3).lowerBound...]),
                                .frameAuthenticationFailed, "frames 1 and 2 swapped")
            await damage.expect(Array(sealed[..<frame(2).lowerBound] + sealed[frame(1)] + sealed[frame(2).lowerBound...]),
                                .frameAuthenticationFailed, "frame 1 duplicated")
            await damage.expect(sealed + sealed[frame(4)], .trailingData, "final frame duplicated")
            await damage.expect(sealed + [0], .trailingData, "a byte after the final frame")
            let another = try await envelope.encrypt(plaintext)
            await damage.expect(Array(sealed[..<frame(1).lowerBound] + another[frame(1)] + sealed[frame(2).lowerBound...]),
                                .frameAuthenticationFailed, "frame 1 from another envelope")

            // Bits flipped in bodies, tags and frame fields.
            await damage.expect(flip(sealed, at: frame(2).lowerBound + 40), .frameAuthenticationFailed, "bit in frame 2's body")
            await damage.expect(flip(sealed, at: frame(2).upperBound - 3), .frameAuthenticationFailed, "bit in frame 2's tag")
            await damage.expect(flip(sealed, at: frame(4).lowerBound + 10), .frameAuthenticationFailed, "bit in the final frame's body")
            await damage.expect(flip(sealed, at: sealed.count - 1), .frameAuthenticationFailed, "bit in the final frame's tag")
            await damage.expect(flip(sealed, at: frame(0).lowerBound, mask: 0x02), .malformedFrame, "frame 0's type")
            await damage.expect(flip(sealed, at: frame(4).lowerBound + 4, mask: 0x02), .frameAuthenticationFailed,
                                "the final frame's length")
            await damage.expect(flip(sealed, at: frame(3).lowerBound, mask: 0x01), nil, "frame 3 marked final")
            await damage.expect(flip(sealed, at: frame(4).lowerBound, mask: 0x01), .truncated, "final frame marked regular")

            // Bits flipped in each header field, and then in every header byte.
            let arnLength = Int(sealed[9]) << 8 | Int(sealed[10])
            let contextEnd = 11 + arnLength + 2 + (Int(sealed[11 + arnLength]) << 8 | Int(sealed[12 + arnLength]))
            await damage.expect(flip(sealed, at: 0), .malformedHeader, "magic")
            await damage.expect(flip(sealed, at: 4), .unsupportedVersion, "version")
            await damage.expect(flip(sealed, at: 8), .headerAuthenticationFailed, "frame size")
            await damage.expect(flip(sealed, at: 10 + arnLength), .headerAuthenticationFailed, "key ARN")
            await damage.expect(flip(sealed, at: contextEnd - 1), .encryptionContextMismatch, "encryption context")
            await damage.expect(flip(sealed, at: contextEnd + 40), .dataKeyRejected, "encrypted data key")
            await damage.expect(flip(sealed, at: h - 1), .headerAuthenticationFailed, "header tag")
            for i in 0..<h {
                await damage.expect(flip(sealed, at: i, mask: UInt8(1) << (i % 8)), nil, "bit \(i % 8) of header byte \(i)")
            }

            // The wrong encryption context, before any call to KMS.
            let wrongContexts: [[String: String]] = [
                [:], ["purpose": "envelope-test"], ["purpose": "envelope-test", "tenant": "acme", "extra": "1"],
                ["purpose": "envelope-test", "tenant": "acme "],
            ]
            for wrong in wrongContexts {
                await damage.expect(sealed, .encryptionContextMismatch, "context \(wrong)", context: wrong)
            }

            // A file output never appears when decryption fails, and leaves no temporary file.
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            for (name, bytes) in [("flipped", flip(sealed, at: frame(3).lowerBound + 5)),
                                  ("truncated", Array(sealed[..<frame(4).lowerBound]))] {
                _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data(bytes))
                await #expect(throws: EnvelopeError.self) {
                    try await EnvelopeEncryption.decryptFile(client: kms, at: directory + "/" + name,
                                                             to: directory + "/out", encryptionContext: Self.context)
                }
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["flipped", "truncated"])
        }
    }
}

/// Decrypts damaged envelopes and checks the outcome.
struct Damage {
    let kms: KMSClient
    let plaintext: [UInt8]
    let frameSize: Int

    /// Expects `code` (any `EnvelopeError` when nil), an output discarded and
    /// never finished, plaintext written only in whole verified frames, and
    /// nothing in a memory output.
    func expect(_ envelope: [UInt8], _ code: EnvelopeError.Code?, _ what: String,
                context: [String: String] = EnvelopeEncryptionTests.context,
                sourceLocation: SourceLocation = #_sourceLocation) async {
        var input = EnvelopeMemoryInput(envelope)
        var output = RecordingOutput()
        do {
            try await EnvelopeEncryption.decrypt(client: kms, from: &input, to: &output, encryptionContext: context)
            Issue.record("\(what): decrypted", sourceLocation: sourceLocation)
        } catch let error as EnvelopeError {
            if let code {
                #expect(error.code == code, "\(what): \(error)", sourceLocation: sourceLocation)
            }
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(what): not an EnvelopeError: \(error)", sourceLocation: sourceLocation)
        }
        #expect(!output.finished && output.discarded, "\(what): output discarded", sourceLocation: sourceLocation)
        #expect(output.written.count % frameSize == 0 && plaintext.starts(with: output.written),
                "\(what): only verified whole frames were written", sourceLocation: sourceLocation)

        var memoryInput = EnvelopeMemoryInput(envelope)
        var memory = EnvelopeMemoryOutput()
        _ = try? await EnvelopeEncryption.decrypt(client: kms, from: &memoryInput, to: &memory, encryptionContext: context)
        #expect(memory.bytes.isEmpty, "\(what): no plaintext in a memory output", sourceLocation: sourceLocation)
    }
}

/// Records what decryption does with its output.
struct RecordingOutput: EnvelopeOutput {
    var written: [UInt8] = []
    var writes = 0
    var finished = false
    var discarded = false

    mutating func write(_ bytes: [UInt8]) async throws {
        written += bytes
        writes += 1
    }

    mutating func finish() async throws { finished = true }
    mutating func discard() async { discarded = true }
}

func flip(_ bytes: [UInt8], at index: Int, mask: UInt8 = 0x01) -> [UInt8] {
    var copy = bytes
    copy[index] ^= mask
    return copy
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { buffer in
        var i = 0
        while i < buffer.count {
            let word = generator.next()
            withUnsafeBytes(of: word) { w in
                let n = min(8, buffer.count - i)
                buffer.baseAddress!.advanced(by: i).copyMemory(from: w.baseAddress!, byteCount: n)
            }
            i += 8
        }
    }
    return bytes
}

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "p11kms-envelope-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs blocking work (a pipe's far end) on a thread of its own.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
