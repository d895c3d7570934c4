import Crypto
import Foundation
import KMSAuditFormat
@testable import KMSCore
import KMSTokenSetup
import PKCS11
import SoftHSMTestSupport
import Synchronization
import Testing

@Suite("Audit log: hash chain, signed checkpoints, group commit, fail closed, verification")
struct AuditLogTests {
    // MARK: Writing and verifying

    @Test func tenThousandConcurrentAppendsFormOneVerifiableChain() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 3600), signer: signer)
            let count = 10_000
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<count {
                    group.addTask { try await log.append(.sample(i)) }
                }
                try await group.waitForAll()
            }
            let stats = log.statistics
            try await log.close()

            #expect(stats.eventsWritten == count)
            // Group commit: appends waiting during an fsync share the next one.
            #expect(stats.syncs < count)
            let result = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(result.isIntact, "\(String(describing: result.firstProblem))")
            #expect(result.checkpointsVerified >= count / 1000)
            #expect(result.linesChecked == count + result.checkpointsVerified)
            #expect(result.unsignedTailLines == 0)
            #expect(result.firstSequence == 1)

            // Every event is there exactly once and reads back as it went in.
            let events = try eventLines(dir + "/audit.log").map { try JSONDecoder().decode(AuditEvent.self, from: Data($0)) }
            #expect(events.count == count)
            #expect(Set(events.map(\.requestID)) == Set((0..<count).map { AuditEvent.sample($0).requestID }))
            let byID = Dictionary(uniqueKeysWithValues: events.map { ($0.requestID, $0) })
            for i in [0, 1, 2, 3, 4, 5, 6, 7, 11, 999, 9_999] {
                let expected = AuditEvent.sample(i)
                var decoded = try #require(byID[expected.requestID])
                // Times are written to the millisecond.
                #expect(abs(decoded.time.timeIntervalSince(expected.time)) < 0.000_5)
                decoded.time = expected.time
                #expect(decoded == expected)
            }
        }
    }

    @Test func lineFormatIsCompactJSONWithChainFieldsFirst() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 3600), signer: signer)
            try await log.append(.sample(6))
            try await log.close()

            let lines = try fileLines(dir + "/audit.log")
            #expect(lines.count == 2)
            let first = String(decoding: lines[0], as: UTF8.self)
            #expect(first.hasPrefix(#"{"seq":1,"prev":"\#(String(repeating: "0", count: 64))","type":"event","time":""#))
            #expect(first.contains(#""encryption_context":{"a\"b":"line\nbreak","tab":"\t\u0001","ünï":"✓"}"#))
            let checkpoint = try #require(try JSONSerialization.jsonObject(with: Data(lines[1])) as? [String: Any])
            #expect(checkpoint["type"] as? String == "checkpoint")
            #expect(checkpoint["seq"] as? Int == 2)
            #expect(checkpoint["head"] as? String == AuditLine.hash(lines[0]))
            #expect(checkpoint["prev"] as? String == AuditLine.hash(lines[0]))
            #expect(checkpoint["key"] as? String == signer.publicKeyID)
        }
    }

    @Test func timesAreUTCToTheMillisecond() throws {
        #expect(AuditLine.formatTime(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(AuditLine.formatTime(Date(timeIntervalSince1970: 1_750_000_000.007)) == "2025-06-15T15:06:40.007Z")
        #expect(AuditLine.formatTime(Date(timeIntervalSince1970: 1_750_000_000.999_6)) == "2025-06-15T15:06:41.000Z")
        let parsed = try AuditLine.timeFormat.parse("2025-06-15T15:06:40.007Z")
        #expect(abs(parsed.timeIntervalSince1970 - 1_750_000_000.007) < 0.000_001)
    }

    @Test func publicKeyPEMRoundTrips() throws {
        let signer = SoftwareAuditSigner()
        let pem = AuditPublicKey.pem(signer.publicKeyDER)
        #expect(pem.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
        #expect(pem.hasSuffix("\n-----END PUBLIC KEY-----\n"))
        #expect(try P256.Signing.PublicKey(pemRepresentation: pem).derRepresentation == Data(signer.publicKeyDER))
    }

    // MARK: Tampering

    enum Tamper: String, CaseIterable, CustomTestStringConvertible {
        case flipByteInValue, flipByteInPrev, flipByteBeforeCheckpoint, flipByteInLastSignature
        case breakJSON, deleteLine, swapLines, truncateMidLine, forgeSignature
        var testDescription: String { rawValue }
    }

    /// 40 events with a checkpoint every 10 lines: lines 11, 22, 33 and 44
    /// are checkpoints. Each tampering is found at the line it touched.
    @Test(arguments: Tamper.allCases)
    func tamperingIsFoundAtTheLineTouched(_ tamper: Tamper) async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 10, checkpointEverySeconds: 3600), signer: signer)
            for i in 0..<40 { try await log.append(.sample(i)) }
            try await log.close()
            let path = dir + "/audit.log"
            var lines = try fileLines(path)
            #expect(lines.count == 44)
            #expect(try AuditVerifier.verify(path: path, publicKeyPEM: signer.pem).isIntact)

            let target = 17 // 1-based: an event line between checkpoints
            let expected: (line: Int, reason: AuditProblem.Reason)
            var tail = "\n"
            switch tamper {
            case .flipByteInValue:
                let at = try #require(firstRange(of: "req-", in: lines[target - 1])).lowerBound
                lines[target - 1][at] ^= 0x01
                expected = (target, .hashChainBroken)
            case .flipByteInPrev:
                let at = try #require(firstRange(of: #""prev":""#, in: lines[target - 1])).upperBound + 5
                lines[target - 1][at] = lines[target - 1][at] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
                expected = (target, .hashChainBroken)
            case .flipByteBeforeCheckpoint:
                // Line 22, a checkpoint, signed the original line 21.
                let at = try #require(firstRange(of: "req-", in: lines[20])).lowerBound
                lines[20][at] ^= 0x01
                expected = (21, .hashChainBroken)
            case .flipByteInLastSignature:
                let at = try #require(firstRange(of: #""sig":""#, in: lines[43])).upperBound + 10
                lines[43][at] = lines[43][at] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
                expected = (44, .badSignature)
            case .breakJSON:
                lines[target - 1][0] = UInt8(ascii: "[")
                expected = (target, .notJSON)
            case .deleteLine:
                lines.remove(at: target - 1)
                expected = (target, .sequenceGap)
            case .swapLines:
                lines.swapAt(target - 1, target)
                expected = (target, .sequenceGap)
            case .truncateMidLine:
                lines = Array(lines.prefix(target))
                lines[target - 1] = Array(lines[target - 1].prefix(lines[target - 1].count / 2))
                tail = ""
                expected = (target, .truncatedLine)
            case .forgeSignature:
                // Re-sign checkpoint 22 with another key but keep the key id.
                let other = SoftwareAuditSigner()
                var object = try #require(try JSONSerialization.jsonObject(with: Data(lines[21])) as? [String: Any])
                let head = try #require(AuditLine.bytes(hex: object["head"] as! String))
                let forged = try await other.sign(digest: AuditLine.checkpointDigest(headBytes: head))
                object["sig"] = Data(forged).base64EncodedString()
                lines[21] = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
                expected = (22, .badSignature)
            }
            try writeLines(lines, to: path, trailing: tail)

            let result = try AuditVerifier.verify(path: path, publicKeyPEM: signer.pem)
            let problem = try #require(result.firstProblem)
            #expect(problem.file == path)
            #expect(problem.line == expected.line, "\(problem)")
            #expect(problem.reason == expected.reason, "\(problem)")
            #expect(!result.isIntact)
        }
    }

    @Test func anotherKeysPEMDoesNotVerify() async throws {
        try await withAuditDirectory { dir in
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 5, checkpointEverySeconds: 3600), signer: SoftwareAuditSigner())
            for i in 0..<7 { try await log.append(.sample(i)) }
            try await log.close()
            let result = try AuditVerifier.verify(path: dir, publicKeyPEM: SoftwareAuditSigner().pem)
            #expect(result.firstProblem?.line == 6)
            #expect(result.firstProblem?.reason == .badSignature)
        }
    }

    /// `sed -i '1,20d' audit.log` once verified as "intact": the verifier
    /// never checked that the chain starts at seq 1.
    @Test func aLogWithItsHeadCutOffIsTampered() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 10, checkpointEverySeconds: 3600),
                                         signer: signer)
            for i in 0..<60 { try await log.append(.sample(i)) }
            try await log.close()
            let path = dir + "/audit.log"
            #expect(try AuditVerifier.verify(path: path, publicKeyPEM: signer.pem).isIntact)
            try writeLines(Array(try fileLines(path).dropFirst(20)), to: path)
            let result = try AuditVerifier.verify(path: path, publicKeyPEM: signer.pem)
            #expect(result.firstProblem?.reason == .headTruncated, "\(result)")
            #expect(result.firstProblem?.line == 1)
            #expect(result.firstProblem?.detail?.contains("starts at seq 21") == true, "\(String(describing: result.firstProblem))")
        }
    }

    /// The PEM beside the log can be swapped along with the log; a pinned
    /// fingerprint cannot.
    @Test func aPinnedFingerprintRefusesAForeignKey() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 5, checkpointEverySeconds: 3600),
                                         signer: signer)
            for i in 0..<12 { try await log.append(.sample(i)) }
            try await log.close()
            let fingerprint = AuditPublicKey.fingerprint(signer.publicKeyDER)
            #expect(fingerprint == log.keyFingerprint)
            let pinned = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem, pinnedFingerprints: [fingerprint])
            #expect(pinned.isIntact && pinned.keyFingerprints == [fingerprint])

            // An impostor re-signed (or replaced) the log and put its own PEM beside it.
            let foreign = SoftwareAuditSigner()
            #expect(throws: AuditLogError.self) {
                try AuditVerifier.verify(path: dir, publicKeyPEM: foreign.pem, pinnedFingerprints: [fingerprint])
            }
            // Both keys in the PEM, one pinned: only the pinned one is trusted.
            let both = try AuditVerifier.verify(path: dir, publicKeyPEM: foreign.pem + signer.pem,
                                                pinnedFingerprints: [AuditPublicKey.fingerprint(foreign.publicKeyDER)])
            #expect(both.firstProblem?.reason == .badSignature)
            #expect(throws: AuditLogError.self) {
                try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem, pinnedFingerprints: ["SHA256:nothex"])
            }
        }
    }

    @Test func unsignedTailIsReported() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 5,
                                                              checkpointEverySeconds: 3600), signer: signer)
            for i in 0..<8 { try await log.append(.sample(i)) }
            // Lines 1–5, checkpoint 6, then events 7–9 unsigned.
            let open = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(open.isIntact)
            #expect(open.checkpointsVerified == 1)
            #expect(open.unsignedTailLines == 3)
            #expect(open.lastSequence == 9)

            try await log.close()
            let closed = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(closed.checkpointsVerified == 2)
            #expect(closed.unsignedTailLines == 0)
        }
    }

    @Test func checkpointTimerSignsAQuietTail() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 0.05), signer: signer)
            try await log.append(.sample(1))
            var waited = 0
            while log.statistics.checkpointsWritten == 0, waited < 500 {
                try await Task.sleep(for: .milliseconds(10))
                waited += 1
            }
            #expect(log.statistics.checkpointsWritten == 1)
            let result = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(result.isIntact && result.unsignedTailLines == 0)
            try await log.close()
            // Nothing new since the timer's checkpoint: close adds none.
            #expect(log.statistics.checkpointsWritten == 1)
        }
    }

    @Test func aFailingSignerLeavesTheTailUnsignedButNeverFailsAppends() async throws {
        try await withAuditDirectory { dir in
            let signer = SwitchableSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 5,
                                                              checkpointEverySeconds: 3600), signer: signer)
            signer.failing.withLock { $0 = true }
            for i in 0..<12 { try await log.append(.sample(i)) }
            await #expect(throws: AuditLogError.self) { try await log.checkpoint() }
            #expect(log.isWritable)
            #expect(log.statistics.checkpointsWritten == 0)
            #expect(log.statistics.checkpointFailures >= 3)
            let unsigned = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(unsigned.isIntact && unsigned.checkpointsVerified == 0 && unsigned.unsignedTailLines == 12)

            // Once the signer is back, one checkpoint covers all of it.
            signer.failing.withLock { $0 = false }
            try await log.checkpoint()
            try await log.close()
            let signed = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(signed.isIntact && signed.checkpointsVerified == 1 && signed.unsignedTailLines == 0)
        }
    }

    @Test func principalsCarryTheCallersIdentity() {
        let principal = Principal(uid: 1001, gid: 100, pid: 77, userName: "alice", executable: "/usr/bin/app")
        let audit = AuditPrincipal(principal)
        #expect(audit == AuditPrincipal(uid: 1001, user: "alice", gid: 100, pid: 77, executable: "/usr/bin/app"))
        #expect(AuditEvent.service("started").principal.pid == getpid())
    }

    @Test func accessKeyCallersAreRecordedByKeyWithoutAUnixIdentity() {
        let caller = Principal.accessKey(name: "ci-deployer", id: "P11KEXAMPLE0000001", remoteAddress: "127.0.0.1:50000")
        let audit = AuditPrincipal(caller)
        #expect(audit == AuditPrincipal(uid: nil, gid: nil, pid: nil, accessKey: "P11KEXAMPLE0000001",
                                        accessKeyName: "ci-deployer", remoteAddress: "127.0.0.1:50000"))
        let event = AuditEvent(requestID: "r", operation: "Encrypt", principal: audit, outcome: .allowed)
        let line = String(decoding: AuditLine.event(seq: 1, prev: AuditLine.zeroHash, event), as: UTF8.self)
        #expect(line.contains(#""principal":{"access_key":"P11KEXAMPLE0000001","access_key_name":"ci-deployer","#
                              + #""remote_address":"127.0.0.1:50000"}"#))
        #expect(!line.contains("\"uid\""))
    }

    // MARK: Rotation and restart

    @Test func rotationKeepsTheChainAcrossFiles() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, maxFileBytes: 8 * 1024,
                                                              checkpointEveryLines: 25, checkpointEverySeconds: 3600), signer: signer)
            for i in 0..<200 { try await log.append(.sample(i)) }
            try await log.close()
            #expect(log.statistics.rotations >= 3)

            let files = try AuditFile.chainFiles(in: dir)
            #expect(files.count == log.statistics.rotations + 1)
            #expect(files.first?.hasSuffix("/audit-000000000001.log") == true)
            #expect(files.last?.hasSuffix("/audit.log") == true)
            // Each rotated file is named after its first line's seq and ends with a checkpoint.
            for file in files.dropLast() {
                let lines = try fileLines(file)
                let first = try JSONDecoder().decode(AuditLine.Header.self, from: Data(lines[0]))
                #expect(file.hasSuffix(AuditFile.rotatedName(firstSeq: first.seq!)))
                let last = try JSONDecoder().decode(AuditLine.Header.self, from: Data(lines.last!))
                #expect(last.type == "checkpoint")
                #expect(permissions(file) == 0o600)
            }

            let result = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(result.isIntact, "\(String(describing: result.firstProblem))")
            #expect(result.files == files)
            #expect(result.linesChecked == 200 + result.checkpointsVerified)

            // A rotated file alone is a log with its head cut off, unless the
            // check starts where the check of the file before it ended.
            let alone = try AuditVerifier.verify(path: files[1], publicKeyPEM: signer.pem)
            #expect(alone.firstProblem?.reason == .headTruncated)
            let before = try AuditVerifier.verify(path: files[0], publicKeyPEM: signer.pem)
            #expect(before.isIntact && before.firstSequence == 1)
            let start = AuditVerifier.ChainStart(sequence: try #require(before.lastSequence) + 1,
                                                 previousHash: try #require(before.lastHash))
            let continued = try AuditVerifier.verify(path: files[1], publicKeyPEM: signer.pem, start: start)
            #expect(continued.isIntact, "\(String(describing: continued.firstProblem))")
            #expect(continued.firstSequence == start.sequence)
            let wrongHash = AuditVerifier.ChainStart(sequence: start.sequence, previousHash: String(repeating: "ab", count: 32))
            #expect(try AuditVerifier.verify(path: files[1], publicKeyPEM: signer.pem, start: wrongHash)
                .firstProblem?.reason == .hashChainBroken)
            let wrongStart = AuditVerifier.ChainStart(sequence: start.sequence + 1, previousHash: start.previousHash)
            #expect(try AuditVerifier.verify(path: files[1], publicKeyPEM: signer.pem, start: wrongStart)
                .firstProblem?.reason == .headTruncated)

            // Tampering in a rotated file names that file.
            var lines = try fileLines(files[1])
            let at = try #require(firstRange(of: "req-", in: lines[2])).lowerBound
            lines[2][at] ^= 0x01
            try writeLines(lines, to: files[1])
            let tampered = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(tampered.firstProblem?.file == files[1])
            #expect(tampered.firstProblem?.line == 3)
            #expect(tampered.firstProblem?.reason == .hashChainBroken)

            // So does a missing rotated file: the chain has a gap.
            try FileManager.default.removeItem(atPath: files[1])
            let gap = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(gap.firstProblem?.file == files[2])
            #expect(gap.firstProblem?.line == 1)
            #expect(gap.firstProblem?.reason == .sequenceGap)
        }
    }

    @Test func restartsContinueOneChain() async throws {
        try await withAuditDirectory { parent in
            let dir = parent + "/audit" // made by the log
            let signer = SoftwareAuditSigner()
            for run in 0..<3 {
                let log = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 7, checkpointEverySeconds: 3600), signer: signer)
                for i in 0..<10 { try await log.append(.sample(run * 10 + i)) }
                try await log.close()
            }
            let result = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(result.isIntact, "\(String(describing: result.firstProblem))")
            #expect(result.files.count == 1)
            #expect(try eventLines(dir + "/audit.log").count == 30)
            #expect(result.unsignedTailLines == 0)
            #expect(permissions(dir + "/audit.log") == 0o600)
            #expect(permissions(dir) == 0o700)
        }
    }

    @Test func restartAfterACrashMidLineCutsTheFragmentAndSealsTheTail() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 3600), signer: signer)
            for i in 0..<5 { try await log.append(.sample(i)) }
            try await log.close()
            // What a crash leaves: no final checkpoint, and half a line at the end.
            let path = dir + "/audit.log"
            var lines = try fileLines(path)
            #expect(lines.count == 6)
            lines.removeLast()
            let fragment = Array(#"{"seq":6,"prev":"ab"#.utf8)
            lines.append(fragment)
            try writeLines(lines, to: path, trailing: "")
            let broken = try AuditVerifier.verify(path: path, publicKeyPEM: signer.pem)
            #expect(broken.firstProblem?.reason == .truncatedLine)
            #expect(broken.firstProblem?.line == 6)

            let reopened = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 3600), signer: signer)
            // Opening cut the fragment, recorded that, and signed the tail the crash left unsigned.
            let recovered = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(recovered.isIntact, "\(String(describing: recovered.firstProblem))")
            #expect(recovered.unsignedTailLines == 0)
            #expect(recovered.lastSequence == 7) // 5 events, the recovery event, a checkpoint
            try await reopened.append(.sample(5))
            try await reopened.close()

            let result = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(result.isIntact, "\(String(describing: result.firstProblem))")
            let events = try eventLines(path).map { try JSONDecoder().decode(AuditEvent.self, from: Data($0)) }
            #expect(events.count == 7)
            #expect(events[5].operation == "AuditLogRecovery")
            #expect(events[5].note?.contains("\(fragment.count) bytes") == true)
        }
    }

    @Test func aCrashBetweenRotationRenameAndCreateIsContinued() async throws {
        try await withAuditDirectory { dir in
            let signer = SoftwareAuditSigner()
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 3600), signer: signer)
            for i in 0..<10 { try await log.append(.sample(i)) }
            try await log.close()
            try FileManager.default.moveItem(atPath: dir + "/audit.log", toPath: dir + "/audit-000000000001.log")

            let reopened = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 3600), signer: signer)
            try await reopened.append(.sample(10))
            try await reopened.close()
            let result = try AuditVerifier.verify(path: dir, publicKeyPEM: signer.pem)
            #expect(result.isIntact, "\(String(describing: result.firstProblem))")
            #expect(result.files.count == 2)
            #expect(result.lastSequence == 13) // 10 events, checkpoint, event, checkpoint
        }
    }

    // MARK: Failing closed

    @Test func anUnwritableLogFailsEveryAppend() async throws {
        try await withAuditDirectory { dir in
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 3600, filePath: "/dev/full"), signer: SoftwareAuditSigner())
            #expect(log.isWritable)
            await #expect(throws: AuditLogError.self) { try await log.append(.sample(1)) }
            #expect(!log.isWritable)
            #expect(throws: AuditLogError.self) { try log.ensureWritable() }

            // Concurrent and later appends fail too; none hangs.
            let failures = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<50 { group.addTask { (try? await log.append(.sample(i))) == nil } }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(failures == 50)
            do {
                try await log.append(.sample(2))
                Issue.record("append to /dev/full succeeded")
            } catch let error as AuditLogError {
                #expect(error.isWriteFailure)
                #expect(error.kmsError.name == .kmsInternal)
            }
            await #expect(throws: AuditLogError.self) { try await log.close() }
        }
    }

    @Test func appendsAfterCloseAreRefused() async throws {
        try await withAuditDirectory { dir in
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEverySeconds: 3600), signer: SoftwareAuditSigner())
            try await log.close()
            #expect(!log.isWritable)
            await #expect(throws: AuditLogError.closed) { try await log.append(.sample(1)) }
        }
    }

    // MARK: The token's audit key

    @Test func hsmSignerCheckpointsVerifyWithTheExportedPEM() async throws {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let session = try token.openUserSession()
        defer { try? session.close() }
        #expect(try TokenSetup.ensureAuditKey(session))
        #expect(try !TokenSetup.ensureAuditKey(session))

        let privateKeys = try session.findObjects([.class(.privateKey), .label(HSMAuditSigner.keyLabel)])
        let publicKeys = try session.findObjects([.class(.publicKey), .label(HSMAuditSigner.keyLabel)])
        #expect(privateKeys.count == 1 && publicKeys.count == 1)
        let key = try #require(privateKeys.first)
        #expect(try session.boolAttribute(.token, of: key))
        #expect(try session.boolAttribute(.sensitive, of: key))
        #expect(try !session.boolAttribute(.extractable, of: key))
        #expect(try session.boolAttribute(.neverExtractable, of: key))
        #expect(try session.boolAttribute(.sign, of: key))
        #expect(try !session.boolAttribute(.decrypt, of: key))
        #expect(try !session.boolAttribute(.unwrap, of: key))
        #expect(try !session.boolAttribute(.derive, of: key))
        let read = #expect(throws: PKCS11Error.self) { try session.attribute(.value, of: key) }
        #expect(read?.code == .attributeSensitive)
        #expect(try session.boolAttribute(.verify, of: publicKeys[0]))

        let pool = try token.makePool(maxSessions: 2)
        let signer = try await HSMAuditSigner(pool: pool)
        let spki = try session.subjectPublicKeyInfo(of: publicKeys[0])
        #expect(signer.publicKeyDER == spki)
        try await withAuditDirectory { dir in
            let log = try await AuditLog(configuration: .init(directory: dir, checkpointEveryLines: 4, checkpointEverySeconds: 3600), signer: signer)
            for i in 0..<10 { try await log.append(.sample(i)) }
            try await log.close()
            try await pool.shutdown()

            let pem = AuditPublicKey.pem(signer.publicKeyDER)
            let result = try AuditVerifier.verify(path: dir, publicKeyPEM: pem)
            #expect(result.isIntact, "\(String(describing: result.firstProblem))")
            #expect(result.checkpointsVerified == 3)
            #expect(result.unsignedTailLines == 0)
        }
    }

    @Test func hsmSignerRequiresTheAuditKey() async throws {
        let token = try SoftHSMTestEnvironment.shared().makeToken()
        let pool = try token.makePool(maxSessions: 1)
        await #expect(throws: AuditLogError.self) { _ = try await HSMAuditSigner(pool: pool) }
        try await pool.shutdown()
    }
}

// MARK: - Helpers

/// Signs in software, so most tests need no token.
struct SoftwareAuditSigner: AuditSigner {
    // Kept as bytes: swift-crypto's key types are not Sendable.
    private let privateKey = P256.Signing.PrivateKey().rawRepresentation
    let publicKeyDER: [UInt8]
    var pem: String { AuditPublicKey.pem(publicKeyDER) }

    init() {
        publicKeyDER = Array(try! P256.Signing.PrivateKey(rawRepresentation: privateKey).publicKey.derRepresentation)
    }

    func sign(digest: [UInt8]) async throws -> [UInt8] {
        let key = try P256.Signing.PrivateKey(rawRepresentation: privateKey)
        return Array(try key.signature(for: PrecomputedDigest(bytes: digest)).derRepresentation)
    }
}

/// A software signer that can be told to fail, as a token that went away would.
final class SwitchableSigner: AuditSigner {
    let failing = Mutex(false)
    private let signer = SoftwareAuditSigner()
    var publicKeyDER: [UInt8] { signer.publicKeyDER }
    var pem: String { signer.pem }

    struct Unavailable: Error {}

    func sign(digest: [UInt8]) async throws -> [UInt8] {
        if failing.withLock({ $0 }) { throw Unavailable() }
        return try await signer.sign(digest: digest)
    }
}

/// A SHA-256 value computed elsewhere, so `P256` signs it without hashing again.
struct PrecomputedDigest: Digest {
    static let byteCount = 32
    let bytes: [UInt8]
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try bytes.withUnsafeBytes(body) }
    var description: String { AuditLine.hex(bytes) }
    func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}

extension AuditEvent {
    /// A varied, deterministic event: outcomes, optional fields and context
    /// strings that need escaping.
    static func sample(_ i: Int) -> AuditEvent {
        let operations = ["Encrypt", "Decrypt", "GenerateDataKey", "Sign", "CreateKey", "DescribeKey", "ReEncrypt"]
        let outcome: AuditOutcome = [.allowed, .allowed, .denied, .failed][i % 4]
        var event = AuditEvent(time: Date(timeIntervalSince1970: 1_750_000_000 + Double(i) / 1000),
                               requestID: "req-\(i)", operation: operations[i % operations.count],
                               principal: AuditPrincipal(uid: UInt32(1000 + i % 3), user: i % 5 == 0 ? nil : "user\(i % 3)",
                                                         gid: 1000, pid: Int32(4000 + i),
                                                         executable: i % 2 == 0 ? "/usr/bin/app" : nil,
                                                         accessKey: i % 7 == 0 ? "AKIDEXAMPLE" : nil),
                               outcome: outcome)
        if i % 6 != 5 {
            event.keyID = "1234abcd-12ab-34cd-56ef-\(String(format: "%012d", i % 50))"
            event.keyVersion = UInt32(1 + i % 3)
        }
        if i % 3 == 0 { event.encryptionContext = ["purpose": "test", "n": String(i)] }
        if i == 6 { event.encryptionContext = ["a\"b": "line\nbreak", "tab": "\t\u{01}", "ünï": "✓"] }
        event.error = outcome == .denied ? "AccessDeniedException" : outcome == .failed ? "NotFoundException" : nil
        event.durationMilliseconds = Double(i % 100) / 8
        if i % 11 == 0 { event.note = "service note \(i)" }
        return event
    }
}

/// Runs `body` with a new directory under the system temp dir, then removes it.
private func withAuditDirectory(_ body: (String) async throws -> Void) async throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("p11kms-audit-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try await body(path)
}

private func permissions(_ path: String) -> mode_t {
    var st = stat()
    return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0
}

/// A file's lines without their `\n` (a last line without one included).
private func fileLines(_ path: String) throws -> [[UInt8]] {
    let data = try #require(FileManager.default.contents(atPath: path))
    var lines = Array(data).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
    if lines.last?.isEmpty == true { lines.removeLast() }
    return lines
}

private func eventLines(_ path: String) throws -> [[UInt8]] {
    try fileLines(path).filter { firstRange(of: #""type":"event""#, in: $0) != nil }
}

private func writeLines(_ lines: [[UInt8]], to path: String, trailing: String = "\n") throws {
    var body: [UInt8] = []
    for (i, line) in lines.enumerated() {
        if i > 0 { body.append(UInt8(ascii: "\n")) }
        body += line
    }
    body += Array(trailing.utf8)
    try Data(body).write(to: URL(fileURLWithPath: path))
}

private func firstRange(of needle: String, in line: [UInt8]) -> Range<Int>? {
    let n = Array(needle.utf8)
    guard line.count >= n.count else { return nil }
    for i in 0...(line.count - n.count) where Array(line[i..<(i + n.count)]) == n {
        return i..<(i + n.count)
    }
    return nil
}
