import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Running a child process and reading its pipes, for tests and tools.
///
/// Why not `FileHandle.readDataToEndOfFile()` or `availableData`: they cannot
/// throw, so any read error traps, and `read` fails with EINTR whenever a
/// signal lands mid-read (a child exiting raises SIGCHLD, and Foundation's
/// `Process` handles it). A CI run of the whole suite died that way:
/// "FileHandle.swift:231: Fatal error: … Code=4 "Interrupted system call"".
/// These readers retry EINTR, and a pipe is drained on a thread of its own,
/// never on Swift's cooperative pool, where a blocking read would stall
/// every task on a 2-core machine.
public enum ChildProcess {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: Data
        public let stderr: Data
        public var output: String { String(decoding: stdout, as: UTF8.self) }
        public var errors: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// A started child and the parent's ends of its pipes.
    private struct Started {
        let pid: pid_t
        let stdout: CInt
        let stderr: CInt
    }

    /// Starts the child through `Spawn` (not Foundation's Process: see there)
    /// and hands `input` to a writer thread.
    private static func start(_ executable: String, _ arguments: [String], environment: [String: String]?,
                              directory: URL?, input: Data?) throws -> Started {
        let out = try Spawn.pipe(), err = try Spawn.pipe()
        let stdin = try input.map { _ in try Spawn.pipe() }
        let pid: pid_t
        do {
            pid = try Spawn.start(executable, arguments, environment: environment, directory: directory?.path,
                                  stdin: stdin?.read, stdout: out.write, stderr: err.write)
        } catch {
            for fd in [out.read, out.write, err.read, err.write] + (stdin.map { [$0.read, $0.write] } ?? []) { close(fd) }
            throw error
        }
        // The child has its copies; the parent keeps only its own ends.
        close(out.write)
        close(err.write)
        if let stdin, let input {
            close(stdin.read)
            let writer = stdin.write
            Thread.detachNewThread {
                writeAll(writer, input)
                close(writer)
            }
        }
        return Started(pid: pid, stdout: out.read, stderr: err.read)
    }

    /// Drains both pipes and reaps the child, on the calling thread.
    private static func finish(_ started: Started) -> Result {
        let errors = PipeDrain(FileHandle(fileDescriptor: started.stderr, closeOnDealloc: true))
        let output = readToEnd(started.stdout)
        close(started.stdout)
        let errorBytes = errors.waitForEnd()
        return Result(status: Spawn.wait(started.pid), stdout: output, stderr: errorBytes)
    }

    /// Runs `executable` to its exit, feeding `input` (if any) to its
    /// standard input, and returns its status and both outputs.
    /// `environment` replaces the inherited one when given.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           directory: URL? = nil, input: Data? = nil) throws -> Result {
        finish(try start(executable, arguments, environment: environment, directory: directory, input: input))
    }

    /// `run` for async callers: the child's pipes are drained and its exit
    /// awaited on a thread of its own, so no thread of Swift's cooperative
    /// pool waits on it (two such waits fill the pool of a 2-core machine and
    /// stall every other test). Cancelling the task, or `timeout` passing,
    /// terminates the child (SIGTERM), and the call throws.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           directory: URL? = nil, input: Data? = nil, timeout: Duration = .seconds(600)) async throws -> Result {
        let started = try start(executable, arguments, environment: environment, directory: directory, input: input)
        let pid = started.pid
        let stopped = Mutex<String?>(nil)
        let stop: @Sendable (String) -> Void = { why in
            if stopped.withLock({ s in defer { s = s ?? why }; return s == nil }) { kill(pid, SIGTERM) }
        }
        let deadline = Task {
            try await Task.sleep(for: timeout)
            stop("timed out after \(timeout)")
        }
        defer { deadline.cancel() }
        let result: Result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: finish(started)) }
            }
        } onCancel: {
            stop("cancelled")
        }
        if let why = stopped.withLock({ $0 }) {
            throw ChildProcessStopped(description: "\(executable) \(arguments.joined(separator: " ")): \(why)")
        }
        return result
    }

    /// Reads `fd` until end of file (or an error other than EINTR).
    public static func readToEnd(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                data.append(contentsOf: buffer[0..<n])
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return data
            }
        }
    }

    /// Writes all of `data` to `fd`, retrying EINTR; stops quietly if the
    /// reader has gone (EPIPE).
    public static func writeAll(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}

/// A child `ChildProcess.run` terminated because its deadline passed or
/// its task was cancelled.
public struct ChildProcessStopped: Error, CustomStringConvertible {
    public let description: String
}

/// Drains a pipe to its end on a thread of its own, so its writer never
/// blocks on a full pipe while someone reads another stream or polls.
public final class PipeDrain: Sendable {
    private let state = Mutex<(data: Data, finished: Bool)>((Data(), false))
    private let ended = NSCondition()
    // The handle is kept so its descriptor stays open while the thread reads.
    private let handle: FileHandle

    public init(_ handle: FileHandle) {
        self.handle = handle
        let fd = handle.fileDescriptor
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    state.withLock { $0.data.append(contentsOf: buffer[0..<n]) }
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            ended.lock()
            state.withLock { $0.finished = true }
            ended.broadcast()
            ended.unlock()
        }
    }

    /// What has arrived so far.
    public var data: Data { state.withLock { $0.data } }

    /// Whether the writer has closed its end.
    public var finished: Bool { state.withLock { $0.finished } }

    /// Blocks the calling thread until end of file; for synchronous callers
    /// only (an async caller polls `finished` with `Task.sleep`).
    public func waitForEnd() -> Data {
        ended.lock()
        while !finished { ended.wait() }
        ended.unlock()
        return data
    }
}
