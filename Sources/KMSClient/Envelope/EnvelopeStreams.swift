import Foundation

/// Where envelope encryption and decryption read their input.
public protocol EnvelopeInput {
    /// Up to `count` bytes (`count` > 0): fewer is allowed, none means the
    /// input has ended.
    mutating func read(upTo count: Int) async throws -> [UInt8]
}

/// Where envelope encryption and decryption write. Decryption writes only
/// plaintext whose frame has been verified, but a later frame may still
/// fail: then `discard()` is called and the error thrown, and whatever was
/// written must not be used. `finish()` is called once all is written and
/// verified.
public protocol EnvelopeOutput {
    mutating func write(_ bytes: [UInt8]) async throws
    /// Everything was written and verified: make it visible.
    mutating func finish() async throws
    /// The operation failed: drop what was written, where that is possible.
    mutating func discard() async
}

extension EnvelopeOutput {
    public mutating func finish() async throws {}
    public mutating func discard() async {}
}

// MARK: - In memory

/// Bytes in memory as an input.
public struct EnvelopeMemoryInput: EnvelopeInput, Sendable {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: some Sequence<UInt8>) { self.bytes = Array(bytes) }

    public mutating func read(upTo count: Int) async throws -> [UInt8] {
        let end = min(bytes.count, offset + count)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}

/// Collects the output in memory. Nothing is in `bytes` until `finish()`:
/// after a failure it stays empty and what was pending is wiped.
public struct EnvelopeMemoryOutput: EnvelopeOutput, Sendable {
    public private(set) var bytes: [UInt8] = []
    private var pending: [UInt8] = []

    public init() {}

    public mutating func write(_ chunk: [UInt8]) async throws { pending += chunk }

    public mutating func finish() async throws {
        bytes += pending
        pending = []
    }

    public mutating func discard() async {
        secureZero(&pending)
        pending = []
    }
}

// MARK: - File handles (pipes, sockets, open files)

/// Reads a `FileHandle` (a pipe, standard input, an open file). Reads block
/// the calling thread, as `FileHandle`'s do.
public struct EnvelopeFileHandleInput: EnvelopeInput, Sendable {
    public let handle: FileHandle

    public init(_ handle: FileHandle) { self.handle = handle }

    public mutating func read(upTo count: Int) async throws -> [UInt8] {
        // One read(2) straight into the array: `FileHandle.read(upToCount:)`
        // would fill a `Data` first, a second buffer and copy per chunk.
        let fd = handle.fileDescriptor
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            while true {
                let n = Foundation.read(fd, buffer.baseAddress, count)
                if n >= 0 {
                    initialized = n
                    return
                }
                guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            }
        }
    }
}

/// Writes to a `FileHandle` as the bytes come. A stream cannot take bytes
/// back: when decryption fails part-way, what was already written must be
/// discarded by its reader (the error says so). Use `EnvelopeFileOutput` for
/// files, which appear only when complete.
public struct EnvelopeFileHandleOutput: EnvelopeOutput, Sendable {
    public let handle: FileHandle

    public init(_ handle: FileHandle) { self.handle = handle }

    public mutating func write(_ bytes: [UInt8]) async throws {
        try handle.write(contentsOf: bytes)
    }
}

// MARK: - Files, all or nothing

/// Writes a file that appears only complete: bytes go to a temporary file
/// (mode 0600) beside `path`, which `finish()` syncs and renames over `path`
/// and `discard()` removes. A failed decryption leaves no file behind.
public struct EnvelopeFileOutput: EnvelopeOutput, Sendable {
    public let path: String
    private let temporaryPath: String
    private var handle: FileHandle?

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporaryPath = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).p11kms-\(UUID().uuidString.prefix(8)).tmp").path
        guard FileManager.default.createFile(atPath: temporaryPath, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: temporaryPath) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporaryPath])
        }
        self.handle = handle
    }

    public mutating func write(_ bytes: [UInt8]) async throws {
        guard let handle else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        try handle.write(contentsOf: bytes)
    }

    public mutating func finish() async throws {
        guard let handle else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        self.handle = nil
        try handle.synchronize()
        try handle.close()
        if rename(temporaryPath, path) != 0 {
            let error = POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            unlink(temporaryPath)
            throw error
        }
    }

    public mutating func discard() async {
        try? handle?.close()
        handle = nil
        unlink(temporaryPath)
    }
}

// MARK: - Reading whole units

/// Reads exact byte counts from an input that may return short reads.
///
/// The input's chunks are kept as they come, and `consume(_:_:)` lends the
/// bytes in place when they lie in one chunk, so a stream read in frame-sized
/// chunks is framed without copying; only a region that straddles chunks is
/// gathered, into one scratch buffer that is reused. (Fresh pages for every
/// frame, and copies, cost more than the AES-GCM itself.)
struct EnvelopeReader<Input: EnvelopeInput> {
    private var input: Input
    /// Chunks read and not yet consumed; the first from `start`.
    private var chunks: [[UInt8]] = []
    private var start = 0
    private var buffered = 0
    private var scratch: [UInt8] = []
    private var ended = false
    /// The size asked of the input when no more is needed: frame-sized reads
    /// keep frames within one chunk.
    var readSize: Int

    init(_ input: Input, chunkSize: Int = 64 << 10) {
        self.input = input
        self.readSize = chunkSize
    }

    /// Reads until at least `count` bytes are buffered or the input ends.
    /// With `exact`, asks the input for just the bytes missing, which brings
    /// the reads back in step with records of `count` bytes.
    /// - Returns: the bytes buffered, which may be more than `count`.
    @discardableResult
    mutating func prefetch(_ count: Int, exact: Bool = false) async throws -> Int {
        while buffered < count && !ended {
            let missing = count - buffered
            let chunk = try await input.read(upTo: exact ? missing : max(readSize, missing))
            if chunk.isEmpty {
                ended = true
            } else {
                buffered += chunk.count
                chunks.append(chunk)
            }
        }
        return buffered
    }

    /// Calls `body` with the next `count` bytes and consumes them. `count`
    /// must not exceed what `prefetch` returned.
    mutating func consume<R>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(count <= buffered, "consume beyond the prefetched bytes")
        let from = start
        if let first = chunks.first, first.count - from >= count {
            defer { advance(count) }
            return try first.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[from..<(from + count)])) }
        }
        scratch.removeAll(keepingCapacity: true)
        var index = 0, offset = from
        while scratch.count < count {
            let take = min(count - scratch.count, chunks[index].count - offset)
            scratch.append(contentsOf: chunks[index][offset..<(offset + take)])
            index += 1
            offset = 0
        }
        advance(count)
        return try scratch.withUnsafeBytes(body)
    }

    private mutating func advance(_ count: Int) {
        buffered -= count
        start += count
        while let first = chunks.first, start >= first.count {   // chunks are never empty
            start -= first.count
            chunks.removeFirst()
        }
    }

    /// `count` bytes, or fewer only where the input ends.
    mutating func read(exactly count: Int) async throws -> [UInt8] {
        let available = try await prefetch(count)
        return consume(min(count, available)) { Array($0) }
    }

    /// The next byte, or nil where the input ends.
    mutating func readByte() async throws -> UInt8? {
        guard try await prefetch(1) > 0 else { return nil }
        return consume(1) { $0[0] }
    }

    /// Gives the input back (any bytes buffered beyond what was read are lost).
    func release() -> Input { input }
}
