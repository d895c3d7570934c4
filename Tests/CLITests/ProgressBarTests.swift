import DaemonTestSupport
import Foundation
import Testing

/// encrypt-file draws a progress bar on a terminal for inputs over 64 MiB:
/// bytes, rate and time left, and none with --no-progress.
///
/// The terminal is a tmux pane, read with capture-pane, as the issue asks.
///
/// An earlier try saw "no server running" at the first capture-pane: under
/// Foundation's `Process`, which watches a child through a socket the child
/// inherits, tmux's client forked its server with that socket, so
/// `tmux new-session -d` returned only when the server had exited. Children
/// now start through `Spawn`, which closes every descriptor above 2.
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

        func tmux(_ socket: String, _ arguments: [String]) async throws -> (Int32, String) {
            try await DaemonProcess.run("/usr/bin/tmux", ["-S", socket, "-f", "/dev/null"] + arguments, withErrors: true)
        }
        /// Runs encrypt-file in a new 140-column pane and returns the screen once it is done.
        func onTerminal(_ extra: [String], output: String) async throws -> String {
            let command = ([cli, "encrypt-file", "--key-id", key, "--socket", daemon.socketPath] + extra + [input, output])
                .map { "'\($0)'" }.joined(separator: " ") + "; echo exit=$?; sleep 60"
            // A server of its own per run: an earlier kill-server, run late,
            // could otherwise end the next run's session.
            let socket = daemon.stateDirectory + "/tmux-\(UUID().uuidString.prefix(8)).sock"
            let (started, why) = try await tmux(socket, ["new-session", "-d", "-x", "140", "-y", "12", command])
            #expect(started == 0, "\(why)")
            let deadline = ContinuousClock.now + .seconds(120)
            var screen = ""
            while ContinuousClock.now < deadline {
                screen = try await tmux(socket, ["capture-pane", "-p"]).1
                if screen.contains("exit=") { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            _ = try await tmux(socket, ["kill-server"])
            guard screen.contains("exit=") else {
                throw DaemonError("encrypt-file did not finish in its tmux pane within 120 s; the pane showed: \(screen)")
            }
            return screen
        }
        let shown = try await onTerminal([], output: input + ".bar")
        #expect(shown.contains("exit=0"), "\(shown)")
        #expect(shown.contains("80.0 / 80.0 MiB 100%"), "\(shown)")
        #expect(shown.contains("[" + String(repeating: "#", count: 30) + "]"), "\(shown)")
        #expect(shown.range(of: #"[0-9.]+ MiB/s  [0-9]+:[0-9]{2} left"#, options: .regularExpression) != nil, "\(shown)")

        let quiet = try await onTerminal(["--no-progress"], output: input + ".quiet")
        #expect(quiet.contains("exit=0") && !quiet.contains("MiB/s"), "\(quiet)")
        #expect(try await daemon.stop() == 0)
    }
}
