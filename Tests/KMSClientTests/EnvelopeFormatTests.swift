import Foundation
@testable import KMSClient
@testable import KMSCore
import Testing

/// The envelope format's pure parts, without a daemon.
@Suite struct EnvelopeFormatTests {
    @Test func canonicalContextIsKMSCoresAndRoundTrips() throws {
        for context in [[:], ["a": "1"], ["b": "2", "a": "1", "ab": "c", "é": ""], ["a": "bc"], ["ab": "c"]] {
            let bytes = try EnvelopeHeader.canonical(context)
            #expect(bytes == EncryptionContext.canonical(context))
            #expect(EnvelopeHeader.parseCanonical(bytes) == context)
        }
        #expect(try EnvelopeHeader.canonical(["ab": "c"]) != EnvelopeHeader.canonical(["a": "bc"]))
    }

    @Test func parseCanonicalRefusesAnythingElse() throws {
        let sorted = try EnvelopeHeader.canonical(["a": "1", "b": "2"])
        let unsorted = Array(sorted[6...]) + Array(sorted[..<6])   // "b" before "a"
        let duplicate = Array(sorted[..<6]) + Array(sorted[..<6])
        for bad in [unsorted, duplicate, sorted + [0], Array(sorted.dropLast()), [0, 1, 0xFF, 0, 0]] {
            #expect(EnvelopeHeader.parseCanonical(bad) == nil, "\(bad)")
        }
    }

    @Test func headerLayout() throws {
        let header = EnvelopeHeader(keyArn: "arn:aws:kms:local:000000000000:key/k", encryptionContext: ["a": "b"],
                                    frameSize: 65536, encryptedDataKey: [9, 9, 9])
        let arn = Array(header.keyArn.utf8)
        let expected: [UInt8] = Array("P11E".utf8) + [1] + [0, 1, 0, 0]
            + [0, UInt8(arn.count)] + arn
            + [0, 6, 0, 1, UInt8(ascii: "a"), 0, 1, UInt8(ascii: "b")]
            + [0, 3, 9, 9, 9]
        #expect(try header.serialized() == expected)
    }

    @Test func noncesAndAADsAreDistinct() {
        let hash = [UInt8](repeating: 7, count: 32)
        #expect(EnvelopeEncryption.frameNonce(1).withUnsafeBytes { Array($0) } == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(EnvelopeEncryption.headerNonce.withUnsafeBytes { Array($0) }
            == [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(EnvelopeEncryption.frameAAD(hash, 2, 0) == hash + [0, 0, 0, 0, 0, 0, 0, 2, 0])
        #expect(EnvelopeEncryption.frameAAD(hash, 2, 0) != EnvelopeEncryption.frameAAD(hash, 2, 1))
    }

    @Test func readerReassemblesShortReads() async throws {
        struct Trickle: EnvelopeInput {
            var bytes: [UInt8]
            mutating func read(upTo count: Int) async throws -> [UInt8] {
                guard !bytes.isEmpty else { return [] }
                return [bytes.removeFirst()]
            }
        }
        var reader = EnvelopeReader(Trickle(bytes: Array(0..<10)))
        #expect(try await reader.read(exactly: 4) == [0, 1, 2, 3])
        #expect(try await reader.read(exactly: 4) == [4, 5, 6, 7])
        #expect(try await reader.read(exactly: 4) == [8, 9])
        #expect(try await reader.read(exactly: 1) == [])
    }
}
