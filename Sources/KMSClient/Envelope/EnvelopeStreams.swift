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
        guard let data = try handle.read(upToCount: count) else { return [] }
        return [UInt8](data)
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
struct EnvelopeReader<Input: EnvelopeInput> {
    private var input: Input
    private var buffer: [UInt8] = []
    private var start = 0
    private var ended = false
    private let chunkSize: Int

    init(_ input: Input, chunkSize: Int = 64 << 10) {
        self.input = input
        self.chunkSize = chunkSize
    }

    /// `count` bytes, or fewer only where the input ends.
    mutating func read(exactly count: Int) async throws -> [UInt8] {
        while buffer.count - start < count && !ended {
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = try await input.read(upTo: max(chunkSize, count - buffer.count))
            if chunk.isEmpty { ended = true } else { buffer += chunk }
        }
        let end = min(buffer.count, start + count)
        defer { start = end }
        return Array(buffer[start..<end])
    }

    /// Gives the input back (any bytes buffered beyond what was read are lost).
    func release() -> Input { input }
}
