import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The audit log's files on disk, with plain POSIX calls: every method
/// blocks, so `AuditLog` runs them on its own I/O queue only.
///
/// The active file is `audit.log`; when it grows past the size limit it is
/// renamed `audit-<first seq, 12 digits>.log` (names sort in chain order)
/// and a new `audit.log` starts. Files are created 0600, and every creation
/// or rename is followed by an fsync of the directory, so a line that was
/// fsync'ed cannot vanish with a directory entry after a crash.
package struct AuditFile: Sendable {
    package static let activeName = "audit.log"

    package let path: String
    package let directory: String
    /// Only a regular file rotates (a test's `/dev/full` does not).
    package let isRegular: Bool
    package private(set) var fd: Int32
    package private(set) var size: Int
    /// Seq of the active file's first line; nil while it is empty.
    package private(set) var firstSeq: UInt64?

    /// Where the chain stood when the log was opened.
    package struct Tail: Sendable {
        package var lastSeq: UInt64 = 0
        package var lastHash = AuditLine.zeroHash
        package var lastIsCheckpoint = false
        /// Bytes of an incomplete last line (a crash mid-write) cut off on
        /// open. Such a line was never fsync'ed whole, so no response that
        /// depended on it was sent.
        package var droppedBytes = 0
    }

    package static func rotatedName(firstSeq: UInt64) -> String {
        "audit-" + String(repeating: "0", count: max(0, 12 - String(firstSeq).count)) + String(firstSeq) + ".log"
    }

    /// Whether `name` is a rotated file's name, and its first seq.
    package static func rotatedSeq(_ name: String) -> UInt64? {
        guard name.hasPrefix("audit-"), name.hasSuffix(".log") else { return nil }
        let digits = name.dropFirst(6).dropLast(4)
        guard digits.count >= 12, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return UInt64(digits)
    }

    /// The files of an audit directory in chain order: rotated ones by name,
    /// then `audit.log`.
    package static func chainFiles(in directory: String) throws -> [String] {
        let names = try names(in: directory)
        var files = rotated(names)
        if names.contains(activeName) { files.append(activeName) }
        return files.map { directory + "/" + $0 }
    }

    package static func rotatedFiles(in directory: String) throws -> [String] {
        try rotated(names(in: directory)).map { directory + "/" + $0 }
    }

    /// Rotated names by first seq (the same as by name while seqs have 12 digits).
    private static func rotated(_ names: [String]) -> [String] {
        names.compactMap { name in rotatedSeq(name).map { (name, $0) } }.sorted { $0.1 < $1.1 }.map(\.0)
    }

    private static func names(in directory: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw AuditLogError.unreadable(directory, "cannot list the directory")
        }
    }

    /// Opens (creating it 0600 if needed) the active file for appending, cuts
    /// off an incomplete last line, and finds the chain's head: the last line
    /// of the active file, or of the newest rotated file if the active one is
    /// empty (as after a crash between rotation's rename and create).
    package static func open(path: String, createDirectory: Bool) throws -> (AuditFile, Tail) {
        let directory = (path as NSString).deletingLastPathComponent
        if createDirectory, !FileManager.default.fileExists(atPath: directory) {
            // An existing directory's mode is left alone: it may be shared
            // (/var/log); the files themselves are 0600.
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw AuditLogError.io("mkdir", directory, errno)
            }
        }
        let fd = posixOpen(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditLogError.io("open", path, errno) }
        do {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw AuditLogError.io("fstat", path, errno) }
            let isRegular = st.st_mode & S_IFMT == S_IFREG
            var file = AuditFile(path: path, directory: directory, isRegular: isRegular, fd: fd, size: 0, firstSeq: nil)
            guard isRegular else { return (file, Tail()) }
            if st.st_mode & 0o077 != 0, fchmod(fd, 0o600) != 0 { throw AuditLogError.io("fchmod", path, errno) }
            try syncDirectory(directory)

            let reader = try FileReader(path: path)
            defer { reader.close() }
            var tail = Tail()
            var end = Int(st.st_size)
            if end > 0 {
                let lastNewline = try reader.lastIndex(of: AuditLine.newline, before: end)
                let complete = lastNewline.map { $0 + 1 } ?? 0
                if complete < end {
                    guard ftruncate(fd, off_t(complete)) == 0 else { throw AuditLogError.io("ftruncate", path, errno) }
                    guard fsync(fd) == 0 else { throw AuditLogError.io("fsync", path, errno) }
                    tail.droppedBytes = end - complete
                    end = complete
                }
            }
            file.size = end
            if end > 0 {
                let first = try reader.line(startingAt: 0)
                file.firstSeq = try header(first, path).seq
                try readTail(reader, end: end, path: path, into: &tail)
            } else if let newest = try rotatedFiles(in: directory).last {
                let previous = try FileReader(path: newest)
                defer { previous.close() }
                let previousEnd = try previous.size()
                guard previousEnd > 0, try previous.lastIndex(of: AuditLine.newline, before: previousEnd) == previousEnd - 1 else {
                    throw AuditLogError.corrupt(newest, "the rotated file does not end with a complete line")
                }
                try readTail(previous, end: previousEnd, path: newest, into: &tail)
            }
            return (file, tail)
        } catch {
            _ = posixClose(fd)
            throw error
        }
    }

    /// `end` is just past the last line's `\n`.
    private static func readTail(_ reader: FileReader, end: Int, path: String, into tail: inout Tail) throws {
        let start = try reader.lastIndex(of: AuditLine.newline, before: end - 1).map { $0 + 1 } ?? 0
        let line = try reader.bytes(start..<(end - 1))
        let h = try header(line, path)
        tail.lastSeq = h.seq
        tail.lastHash = AuditLine.hash(line)
        tail.lastIsCheckpoint = h.isCheckpoint
    }

    private static func header(_ line: [UInt8], _ path: String) throws -> (seq: UInt64, isCheckpoint: Bool) {
        guard let h = try? JSONDecoder().decode(AuditLine.Header.self, from: Data(line)), let seq = h.seq, seq > 0 else {
            throw AuditLogError.corrupt(path, "a line at its end is not an audit record; the chain cannot be continued")
        }
        return (seq, h.type == "checkpoint")
    }

    /// Writes all of `bytes` (one `write` as a rule; O_APPEND keeps lines
    /// whole against other writers). Does not sync.
    package mutating func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AuditLogError.io("write", path, errno)
                }
                offset += n
            }
        }
        size += bytes.count
    }

    package func sync() throws {
        // A regular file needs its data and size on disk; fsync on a device
        // such as /dev/full may be refused and means nothing there.
        guard isRegular else { return }
        while fsync(fd) != 0 {
            if errno != EINTR { throw AuditLogError.io("fsync", path, errno) }
        }
    }

    package mutating func noteFirstSeq(_ seq: UInt64) {
        if firstSeq == nil { firstSeq = seq }
    }

    /// Renames the (synced) active file to its rotated name and starts an
    /// empty one. Refuses to replace an existing rotated file.
    package mutating func rotate() throws {
        guard isRegular, let firstSeq else { return }
        let target = directory + "/" + Self.rotatedName(firstSeq: firstSeq)
        guard access(target, F_OK) != 0 else { throw AuditLogError.corrupt(target, "a rotated file of that name exists") }
        guard rename(path, target) == 0 else { throw AuditLogError.io("rename", path, errno) }
        try Self.syncDirectory(directory)
        // The old descriptor is closed only once the new one exists, so on
        // failure `self` still owns exactly one open descriptor.
        let fresh = posixOpen(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fresh >= 0 else { throw AuditLogError.io("open", path, errno) }
        _ = posixClose(fd)
        fd = fresh
        try Self.syncDirectory(directory)
        size = 0
        self.firstSeq = nil
    }

    package func close() {
        _ = posixClose(fd)
    }

    package static func syncDirectory(_ directory: String) throws {
        let dfd = posixOpen(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw AuditLogError.io("open", directory, errno) }
        defer { _ = posixClose(dfd) }
        guard fsync(dfd) == 0 else { throw AuditLogError.io("fsync", directory, errno) }
    }
}

/// Positioned reads of a file, for finding its first and last lines
/// without reading it all.
struct FileReader {
    let path: String
    let fd: Int32
    private static let chunk = 64 * 1024

    init(path: String) throws {
        self.path = path
        fd = posixOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditLogError.io("open", path, errno) }
    }

    func close() { _ = posixClose(fd) }

    func size() throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw AuditLogError.io("fstat", path, errno) }
        return Int(st.st_size)
    }

    func bytes(_ range: Range<Int>) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: range.count)
        var done = 0
        while done < range.count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, range.count - done, off_t(range.lowerBound + done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw AuditLogError.io("pread", path, n < 0 ? errno : EIO) }
            done += n
        }
        return out
    }

    /// The last position before `end` holding `byte`, reading backwards.
    func lastIndex(of byte: UInt8, before end: Int) throws -> Int? {
        var upper = end
        while upper > 0 {
            let lower = max(0, upper - Self.chunk)
            if let i = try bytes(lower..<upper).lastIndex(of: byte) { return lower + i }
            upper = lower
        }
        return nil
    }

    /// The line starting at `start`, without its `\n`.
    func line(startingAt start: Int) throws -> [UInt8] {
        let total = try size()
        var line: [UInt8] = []
        var lower = start
        while lower < total {
            let chunk = try bytes(lower..<min(total, lower + Self.chunk))
            if let i = chunk.firstIndex(of: AuditLine.newline) { return line + chunk[..<i] }
            line += chunk
            lower += chunk.count
        }
        return line
    }
}

// File-scope wrappers, so the C calls are not shadowed by the methods of the
// same names above.
private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 { open(path, flags, mode) }
private func posixClose(_ fd: Int32) -> Int32 { close(fd) }
