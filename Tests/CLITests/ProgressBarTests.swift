import DaemonTestSupport
import Foundation
import Testing

/// encrypt-file draws a progress bar on a terminal for inputs over 64 MiB:
/// bytes, rate and time left, and none with --no-progress.
///
/// The terminal is script(1)'s pseudo-terminal. The issue asks for tmux and
/// capture-pane; a tmux server started from inside `swift test` here was gone
/// by the first capture-pane ("no server running"), with or without setsid,
/// while the same commands work from a shell and from a plain Swift program.
/// That is left for the next session to find.
@Suite("encrypt-file progress bar", .serialized)
struct ProgressBarTests {
    @Test func aLargeFileShowsBytesRateAndTimeLeftOnATerminal() async throws {
        let daemon = try await DaemonProcess()
        defer { daemon.removeState() }
        let key = try #require((try daemon.callJSON("CreateKey", [:]).1["KeyMetadata"] as? [String: Any])?["KeyId"] as? String)
        let input = daemon.stateDirectory + "/big.bin"
        #expect(FileManager.default.createFile(atPath: input, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
        let chunk = Data(repeating: 0x5A, count: 1 << 20)
        for _ in 0..<80 { try handle.write(contentsOf: chunk) }   // 80 MiB, over the 64 MiB threshold
        try handle.close()
        let cli = try DaemonProcess.cli()

        func onTerminal(_ extra: [String], output: String) async throws -> (Int32, String) {
            let command = ([cli, "encrypt-file", "--key-id", key, "--socket", daemon.socketPath] + extra + [input, output])
                .map { "'\($0)'" }.joined(separator: " ")
            return try await DaemonProcess.run("/usr/bin/script", ["-qec", command, "/dev/null"])
        }
        let (status, shown) = try await onTerminal([], output: input + ".bar")
        #expect(status == 0, "\(shown)")
        #expect(shown.contains("80.0 / 80.0 MiB 100%"), "\(shown)")
        #expect(shown.contains("[" + String(repeating: "#", count: 30) + "]"), "\(shown)")
        #expect(shown.range(of: #"[0-9.]+ MiB/s  [0-9]+:[0-9]{2} left"#, options: .regularExpression) != nil, "\(shown)")

        let (quietStatus, quiet) = try await onTerminal(["--no-progress"], output: input + ".quiet")
        #expect(quietStatus == 0 && !quiet.contains("MiB/s"), "\(quiet)")
        #expect(try await daemon.stop() == 0)
    }
}
