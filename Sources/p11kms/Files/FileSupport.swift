import ArgumentParser
import Foundation
import KMSClient
import KMSModel

/// Options shared by the commands that talk to the daemon's socket.
struct FileSocketOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The daemon's socket (default: $P11KMS_SOCKET, ./.p11kms-dev/p11kms.sock when it and its directory are "
            + "yours and no one else can write to the directory, /run/p11kms/p11kms.sock).",
        valueName: "path"))
    var socket: String?

    func client() throws -> KMSClient { try KMSClient(socketPath: socket) }
}

/// `k=v,k2=v2` as an encryption context.
func fileParseEncryptionContext(_ text: String?) throws -> [String: String] {
    guard let text, !text.isEmpty else { return [:] }
    var context: [String: String] = [:]
    for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
        guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
            throw ValidationError("--encryption-context: '\(pair)' is not key=value")
        }
        let key = String(pair[..<eq])
        guard context[key] == nil else { throw ValidationError("--encryption-context: key '\(key)' given twice") }
        context[key] = String(pair[pair.index(after: eq)...])
    }
    return context
}

/// A message for stderr: the library's errors describe themselves; Foundation's
/// file errors through `localizedDescription`.
func fileErrorMessage(_ error: any Error) -> String {
    switch error {
    case let e as EnvelopeError: e.message
    case let e as KMSError: e.description
    case let e as KMSClientError: e.description
    case let e as CocoaError:
        if let path = e.userInfo[NSFilePathErrorKey] as? String { "\(path): \(e.localizedDescription)" } else { e.localizedDescription }
    case let e as POSIXError: String(cString: strerror(e.code.rawValue))
    default: String(describing: error)
    }
}

func fileWriteStderr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// Shows bytes done / total and a percentage on stderr, for large regular
/// files and only when stderr is a terminal.
final class FileProgress: @unchecked Sendable {
    // @unchecked: used from the one task running the command.
    static let threshold: UInt64 = 8 << 20

    let total: UInt64
    private var done: UInt64 = 0
    private var lastShown = Date.distantPast
    private var lastPercent = -1

    /// nil when no bar should be drawn: stderr is no terminal, the input is
    /// not a regular file, or it is small.
    static func make(forInput path: String) -> FileProgress? {
        guard path != "-", isatty(STDERR_FILENO) == 1 else { return nil }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_size) > threshold else { return nil }
        return FileProgress(total: UInt64(st.st_size))
    }

    init(total: UInt64) { self.total = total }

    func advance(by count: Int) {
        done += UInt64(count)
        let percent = total == 0 ? 100 : Int(min(done, total) * 100 / total)
        let now = Date()
        guard percent != lastPercent, now.timeIntervalSince(lastShown) >= 0.1 || percent == 100 else { return }
        lastPercent = percent
        lastShown = now
        fileWriteStderr("\r" + Self.line(done: min(done, total), total: total))
    }

    func end() {
        if lastPercent >= 0 { fileWriteStderr("\n") }
    }

    static func line(done: UInt64, total: UInt64) -> String {
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        return "[\(bar)] \(mib(done)) / \(mib(total)) MiB \(Int(fraction * 100))%"
    }

    private static func mib(_ n: UInt64) -> String { String(format: "%.1f", Double(n) / Double(1 << 20)) }
}

/// An input that reports what it read to a progress bar.
struct FileProgressInput<Base: EnvelopeInput>: EnvelopeInput {
    var base: Base
    let progress: FileProgress?

    mutating func read(upTo count: Int) async throws -> [UInt8] {
        let bytes = try await base.read(upTo: count)
        progress?.advance(by: bytes.count)
        return bytes
    }
}

/// The input named on the command line: a file, or `-` for stdin.
func openFileInput(_ path: String) throws -> FileHandle {
    if path == "-" { return FileHandle.standardInput }
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw ValidationError("cannot open \(path) for reading: \(String(cString: strerror(errno)))")
    }
    return handle
}

/// Runs one envelope operation from INPUT to OUTPUT: files are written
/// through a temporary file renamed into place only on success; `-` is
/// stdin/stdout. Failures go to stderr and exit 1.
func runEnvelopeCommand(
    name: String, input inputPath: String, output outputPath: String,
    _ body: (inout FileProgressInput<EnvelopeFileHandleInput>, inout FileOutputTarget) async throws -> Void
) async throws {
    var failure: (any Error)?
    do {
        let handle = try openFileInput(inputPath)
        defer { if inputPath != "-" { try? handle.close() } }
        let progress = FileProgress.make(forInput: inputPath)
        defer { progress?.end() }
        var input = FileProgressInput(base: EnvelopeFileHandleInput(handle), progress: progress)
        var output: FileOutputTarget = outputPath == "-"
            ? .stream(EnvelopeFileHandleOutput(FileHandle.standardOutput))
            : .file(try EnvelopeFileOutput(path: outputPath))
        try await body(&input, &output)
    } catch {
        failure = error
    }
    if let failure {
        fileWriteStderr("p11kms \(name): \(fileErrorMessage(failure))\n")
        throw ExitCode(1)
    }
}

/// Where OUTPUT goes: a file that appears only when complete, or stdout.
enum FileOutputTarget: EnvelopeOutput {
    case file(EnvelopeFileOutput)
    case stream(EnvelopeFileHandleOutput)

    mutating func write(_ bytes: [UInt8]) async throws {
        switch self {
        case .file(var o): try await o.write(bytes); self = .file(o)
        case .stream(var o): try await o.write(bytes); self = .stream(o)
        }
    }

    mutating func finish() async throws {
        switch self {
        case .file(var o): try await o.finish(); self = .file(o)
        case .stream(var o): try await o.finish(); self = .stream(o)
        }
    }

    mutating func discard() async {
        switch self {
        case .file(var o): await o.discard(); self = .file(o)
        case .stream(var o): await o.discard(); self = .stream(o)
        }
    }
}
