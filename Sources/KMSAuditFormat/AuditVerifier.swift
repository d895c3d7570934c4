import Crypto
import Foundation

/// Where an audit log stops being trustworthy.
public struct AuditProblem: Sendable, Hashable, CustomStringConvertible {
    public struct Reason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The line's `prev` is not the hash of the line before, or the line
        /// before was changed after the next one was chained to it.
        public static let hashChainBroken = Reason(rawValue: "hash chain broken")
        /// `seq` is not one more than the line before: lines deleted, reordered or inserted.
        public static let sequenceGap = Reason(rawValue: "sequence gap")
        /// A checkpoint's signature does not verify, or is by an unknown key.
        public static let badSignature = Reason(rawValue: "bad signature")
        public static let notJSON = Reason(rawValue: "not JSON")
        /// JSON, but without the fields an audit line has.
        public static let malformedRecord = Reason(rawValue: "malformed record")
        /// The file ends inside a line.
        public static let truncatedLine = Reason(rawValue: "truncated line")
        /// The log does not start where it should: at seq 1 (prev all zeros),
        /// or at the `ChainStart` given. Lines were cut off its head.
        public static let headTruncated = Reason(rawValue: "head truncated")
    }

    /// The file's path as given or found in the directory.
    public var file: String
    /// 1-based line number within `file`.
    public var line: Int
    public var reason: Reason
    public var detail: String?

    public var description: String {
        "\(file):\(line): \(reason)" + (detail.map { " (\($0))" } ?? "")
    }
}

/// The result of checking an audit log.
public struct AuditVerification: Sendable, Hashable {
    /// The files checked, in chain order.
    public var files: [String] = []
    /// Lines that passed every check, up to the first problem.
    public var linesChecked = 0
    public var checkpointsVerified = 0
    /// Seq of the first line checked: 1, or the `ChainStart`'s sequence.
    public var firstSequence: UInt64?
    public var lastSequence: UInt64?
    /// Hash of the last line checked: the `--previous-hash` for checking the
    /// lines that follow it once this part of the log is archived.
    public var lastHash: String?
    public var firstProblem: AuditProblem?
    /// Lines after the last valid checkpoint. They are chained but not
    /// signed: whoever can write the file could have rewritten them
    /// consistently, so they are only as trustworthy as the file's storage.
    public var unsignedTailLines = 0
    /// Fingerprints (`SHA256:…`) of the public keys checkpoints were checked against.
    public var keyFingerprints: [String] = []

    /// No problem found. Says nothing about `unsignedTailLines`, nor about
    /// lines cut off the end after the last checkpoint (no log can tell).
    public var isIntact: Bool { firstProblem == nil }
}

/// Checks an audit log offline: every line's JSON, seq continuity and hash
/// chain (across rotated files), and every checkpoint's signature with the
/// exported audit public key. Stops at the first problem and names it.
///
/// Blame for a broken chain: when line k's `prev` does not match line k-1,
/// either k's `prev` or k-1's content was changed. If line k+1 still chains
/// onto k (or k is a checkpoint whose signature covers its `prev`), k is
/// original and line k-1 is named; otherwise line k is.
public enum AuditVerifier {
    /// Where a check of a log whose head was archived away begins: the first
    /// line must have seq `sequence` and chain onto `previousHash`, the hash
    /// of line `sequence - 1` (from the previous verification's output).
    public struct ChainStart: Sendable, Hashable {
        public var sequence: UInt64
        public var previousHash: String
        public init(sequence: UInt64, previousHash: String) {
            self.sequence = sequence
            self.previousHash = previousHash.lowercased()
        }
    }

    /// `path` is one file, or a directory whose `audit-*.log` files (by name)
    /// and then `audit.log` are checked as one chain. `publicKeyPEM` holds one
    /// or more `PUBLIC KEY` blocks (several when the audit key was replaced).
    ///
    /// The chain must begin at seq 1 unless `start` says where and on what
    /// it begins: a log with its head cut off is a problem, not a shorter log.
    /// With `pinnedFingerprints`, only those keys are trusted, and each must
    /// be in the PEM: the PEM usually lives in the state directory being
    /// checked, so whoever rewrote the log could have replaced it too.
    public static func verify(path: String, publicKeyPEM: String, start: ChainStart? = nil,
                              pinnedFingerprints: [String] = []) throws -> AuditVerification {
        var keys = try publicKeys(publicKeyPEM)
        if !pinnedFingerprints.isEmpty {
            var pinned: [String: P256.Signing.PublicKey] = [:]
            for fingerprint in pinnedFingerprints {
                guard let id = AuditPublicKey.keyID(fromFingerprint: fingerprint) else {
                    throw AuditLogError.auditKey("\(fingerprint) is not a key fingerprint (SHA256: and 64 hex digits)")
                }
                guard let key = keys[id] else {
                    throw AuditLogError.auditKey("no key in the audit public key PEM has the pinned fingerprint \(fingerprint); "
                        + "it holds \(keys.keys.sorted().map { "SHA256:" + $0 }.joined(separator: ", "))")
                }
                pinned[id] = key
            }
            keys = pinned
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AuditLogError.unreadable(path, "no such file or directory")
        }
        let files = isDirectory.boolValue ? try AuditFile.chainFiles(in: path) : [path]
        guard !files.isEmpty else { throw AuditLogError.unreadable(path, "no audit log files (audit.log, audit-*.log)") }
        var check = Check(keys: keys, start: start)
        check.result.files = files
        check.result.keyFingerprints = keys.keys.sorted().map { "SHA256:" + $0 }
        var lines = LineCursor(files: files)
        while let line = try lines.next() {
            if let problem = try check.examine(line, next: { try lines.peek() }) {
                check.result.firstProblem = problem
                check.result.unsignedTailLines = 0
                break
            }
        }
        return check.result
    }

    /// Public keys by key id (hex SHA-256 of their SubjectPublicKeyInfo).
    static func publicKeys(_ pem: String) throws -> [String: P256.Signing.PublicKey] {
        var keys: [String: P256.Signing.PublicKey] = [:]
        var rest = pem[...]
        while let begin = rest.range(of: "-----BEGIN PUBLIC KEY-----"),
              let end = rest[begin.upperBound...].range(of: "-----END PUBLIC KEY-----") {
            let block = String(rest[begin.lowerBound..<end.upperBound])
            guard let key = try? P256.Signing.PublicKey(pemRepresentation: block) else {
                throw AuditLogError.auditKey("a PUBLIC KEY block is not an ECDSA P-256 public key")
            }
            keys[AuditLine.hex(Array(SHA256.hash(data: key.derRepresentation)))] = key
            rest = rest[end.upperBound...]
        }
        guard !keys.isEmpty else { throw AuditLogError.auditKey("no PUBLIC KEY block in the audit public key PEM") }
        return keys
    }

    private struct Line {
        let file: String
        let number: Int
        let bytes: ArraySlice<UInt8>
        let isTerminated: Bool
    }

    /// The running state of one verification.
    private struct Check {
        let keys: [String: P256.Signing.PublicKey]
        let start: ChainStart?
        var result = AuditVerification()
        var previousHash: String?
        var previous: (file: String, line: Int)?

        mutating func examine(_ line: Line, next: () throws -> Line?) rethrows -> AuditProblem? {
            func problem(_ reason: AuditProblem.Reason, _ detail: String? = nil) -> AuditProblem {
                AuditProblem(file: line.file, line: line.number, reason: reason, detail: detail)
            }
            guard line.isTerminated else { return problem(.truncatedLine, "the file ends inside this line") }
            let header: AuditLine.Header
            switch Self.parse(line.bytes) {
            case .header(let h): header = h
            case .unreadable(let reason): return problem(reason)
            }
            guard let seq = header.seq, let prev = header.prev, prev.utf8.count == 64,
                  header.type == "event" || header.type == "checkpoint" else {
                return problem(.malformedRecord, "needs seq, a 64-digit prev and type event or checkpoint")
            }
            let expected = result.lastSequence.map { $0 + 1 }
            if let expected, seq != expected { return problem(.sequenceGap, "expected seq \(expected), found \(seq)") }
            let hash = AuditLine.hash(line.bytes)
            let signature = header.type == "checkpoint" ? checkpointSignature(header) : nil
            if case .failure(let error) = signature { return problem(.malformedRecord, error.description) }

            if let previousHash, let previous {
                if prev != previousHash {
                    let signedHere = (try? signature?.get()).map { $0.isValid && header.head == prev } ?? false
                    let nextChainsHere = try next().flatMap { Self.parse($0.bytes).header?.prev } == hash
                    if signedHere || nextChainsHere {
                        result.linesChecked -= 1 // the line before did not pass after all
                        return AuditProblem(file: previous.file, line: previous.line, reason: .hashChainBroken,
                                            detail: "this line was changed after the next line was chained to it")
                    }
                    return problem(.hashChainBroken, "prev is not the hash of the line before")
                }
            } else if let start {
                guard seq == start.sequence else {
                    return problem(.headTruncated, "the check was to start at seq \(start.sequence), the log starts at seq \(seq)")
                }
                guard prev == start.previousHash else {
                    return problem(.hashChainBroken, "the first line's prev is not the given hash of line \(start.sequence - 1)")
                }
            } else if seq != 1 {
                return problem(.headTruncated, "the log starts at seq \(seq): lines 1 to \(seq - 1) are missing "
                    + "(if they were archived, give --from-sequence \(seq) and the hash of line \(seq - 1) from their check)")
            } else if prev != AuditLine.zeroHash {
                return problem(.hashChainBroken, "the first line's prev must be zeros")
            }

            if let signature = try? signature?.get() {
                guard header.head == prev else { return problem(.hashChainBroken, "the checkpoint's head is not its prev") }
                guard signature.isKnownKey else { return problem(.badSignature, "signed by an unknown key \(header.key ?? "")") }
                guard signature.isValid else { return problem(.badSignature) }
                result.checkpointsVerified += 1
                result.unsignedTailLines = 0
            } else {
                result.unsignedTailLines += 1
            }
            result.linesChecked += 1
            if result.firstSequence == nil { result.firstSequence = seq }
            result.lastSequence = seq
            result.lastHash = hash
            previousHash = hash
            previous = (line.file, line.number)
            return nil
        }

        struct Signature {
            var isKnownKey: Bool
            var isValid: Bool
        }

        private func checkpointSignature(_ h: AuditLine.Header) -> Result<Signature, SignatureFieldError> {
            guard let head = h.head, let headBytes = AuditLine.bytes(hex: head), headBytes.count == 32,
                  let sig = h.sig, let sigBytes = Data(base64Encoded: sig), let keyID = h.key else {
                return .failure(.init("a checkpoint needs head (64 hex digits), sig (base64) and key"))
            }
            guard let key = keys[keyID.lowercased()] else { return .success(Signature(isKnownKey: false, isValid: false)) }
            guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: sigBytes) else {
                return .success(Signature(isKnownKey: true, isValid: false))
            }
            return .success(Signature(isKnownKey: true, isValid: key.isValidSignature(parsed, for: headBytes)))
        }

        struct SignatureFieldError: Error, CustomStringConvertible {
            let description: String
            init(_ description: String) { self.description = description }
        }

        enum Parsed {
            case header(AuditLine.Header)
            case unreadable(AuditProblem.Reason)

            var header: AuditLine.Header? {
                if case .header(let h) = self { return h }
                return nil
            }
        }

        static func parse(_ bytes: ArraySlice<UInt8>) -> Parsed {
            do {
                return .header(try JSONDecoder().decode(AuditLine.Header.self, from: Data(bytes)))
            } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                // A syntax error; a field of the wrong kind has a coding path.
                return .unreadable(.notJSON)
            } catch {
                return .unreadable(.malformedRecord)
            }
        }
    }

    /// The lines of the files in order, with one line of look-ahead.
    private struct LineCursor {
        let files: [String]
        var fileIndex = -1
        var data: [UInt8] = []
        var offset = 0
        var lineNumber = 0

        mutating func next() throws -> Line? {
            while offset >= data.count {
                fileIndex += 1
                guard fileIndex < files.count else { return nil }
                guard let contents = FileManager.default.contents(atPath: files[fileIndex]) else {
                    throw AuditLogError.unreadable(files[fileIndex], "cannot read the file")
                }
                data = Array(contents)
                offset = 0
                lineNumber = 0
            }
            lineNumber += 1
            let end = data[offset...].firstIndex(of: AuditLine.newline)
            let line = Line(file: files[fileIndex], number: lineNumber, bytes: data[offset..<(end ?? data.count)],
                            isTerminated: end != nil)
            offset = (end ?? data.count - 1) + 1
            return line
        }

        func peek() throws -> Line? {
            var copy = self
            return try copy.next()
        }
    }
}
