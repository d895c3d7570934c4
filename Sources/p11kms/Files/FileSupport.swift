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

/// Shows bytes done / total, the rate and the time left on stderr, for
/// regular files over 64 MiB and only when stderr is a terminal (and
/// `--no-progress` is not given). Redrawn in place at most ten times a second.
final class FileProgress: @unchecked Sendable {
    // @unchecked: used from the one task running the command.
    static let threshold: UInt64 = 64 << 20

    let total: UInt64
    private var done: UInt64 = 0
    private let started = Date()
    private var lastShown = Date.distantPast
    private var drawn = false

    /// nil when no bar should be drawn: turned off, stderr is no terminal,
    /// the input is not a regular file, or it is 64 MiB or less.
    static func make(forInput path: String, enabled: Bool = true) -> FileProgress? {
        guard enabled, path != "-", isatty(STDERR_FILENO) == 1 else { return nil }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_size) > threshold else { return nil }
        return FileProgress(total: UInt64(st.st_size))
    }

    init(total: UInt64) { self.total = total }

    func advance(by count: Int) {
        done = min(total, done + UInt64(count))
        let now = Date()
        guard now.timeIntervalSince(lastShown) >= 0.1 || done == total else { return }
        lastShown = now
        drawn = true
        fileWriteStderr("\r" + Self.line(done: done, total: total, seconds: now.timeIntervalSince(started)) + "\u{1B}[K")
    }

    func end() {
        if drawn { fileWriteStderr("\n") }
    }

    /// `[#########---------] 512.0 / 1024.0 MiB  50%  85.3 MiB/s  0:06 left`
    static func line(done: UInt64, total: UInt64, seconds: Double) -> String {
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let left = rate > 0 ? Double(total - done) / rate : nil
        return "[\(bar)] \(mib(done)) / \(mib(total)) MiB \(String(format: "%3d", Int(fraction * 100)))%  "
            + "\(String(format: "%.1f", rate / Double(1 << 20))) MiB/s  " + (left.map { clock($0) + " left" } ?? "--:-- left")
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
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
    name: String, input inputPath: String, output outputPath: String, progress showProgress: Bool = true,
    _ body: (inout FileProgressInput<EnvelopeFileHandleInput>, inout FileOutputTarget) async throws -> Void
) async throws {
    var failure: (any Error)?
    do {
        let handle = try openFileInput(inputPath)
        defer { if inputPath != "-" { try? handle.close() } }
        let progress = FileProgress.make(forInput: inputPath, enabled: showProgress)
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
