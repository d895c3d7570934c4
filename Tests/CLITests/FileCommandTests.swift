import Foundation
import SoftHSMTestSupport
import Testing

@Suite("p11kms encrypt-file / decrypt-file / status", .serialized)
struct FileCommandTests {
    @Test("round trips files and pipes; tampering and a wrong context fail without output; status is ok")
    func envelopeFilesAndStatus() async throws {
        let daemon = try await FileTestDaemon()
        let dir = try fileTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try await run(daemon: daemon, dir: dir)
        } catch {
            await daemon.stop()
            throw error
        }
        await daemon.stop()
    }

    private func run(daemon: FileTestDaemon, dir: String) async throws {
        let socket = ["--socket", daemon.socketPath]
        let key = try daemon.createKey()
        var plaintext = Data(count: 1 << 20)
        plaintext.withUnsafeMutableBytes { for i in $0.indices { $0[i] = UInt8.random(in: 0...255) } }
        let plain = dir + "/plain", sealed = dir + "/sealed", opened = dir + "/opened"
        try plaintext.write(to: URL(fileURLWithPath: plain))

        // Files, with a context and a small frame size (many frames).
        var r = try await fileRunCLI(["encrypt-file", "--key-id", key, "--encryption-context", "app=test,file=plain",
                                "--frame-size", "4096"] + socket + [plain, sealed])
        #expect(r.status == 0, "\(r.stderr)")
        let envelope = try Data(contentsOf: URL(fileURLWithPath: sealed))
        #expect(envelope.prefix(4) == Data("P11E".utf8))
        r = try await fileRunCLI(["decrypt-file", "--encryption-context", "file=plain,app=test", "--key-id", key]
                           + socket + [sealed, opened])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stderr.contains("warning"), "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: opened)) == plaintext)

        // stdin -> stdout through pipes.
        r = try await fileRunCLI(["encrypt-file", "--key-id", key] + socket + ["-", "-"], stdin: plaintext)
        #expect(r.status == 0, "\(r.stderr)")
        let piped = r.stdout
        #expect(piped.count > plaintext.count)
        r = try await fileRunCLI(["decrypt-file"] + socket + ["-", "-"], stdin: piped)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == plaintext)
        // Without --key-id any key the caller may use is accepted: it says so.
        #expect(r.stderr.contains("warning: no --key-id given"), "\(r.stderr)")

        // A flipped byte in the middle of the ciphertext: exit 1, no output file.
        var tampered = envelope
        tampered[tampered.count / 2] ^= 0x01
        let bad = dir + "/tampered", badOut = dir + "/tampered.out"
        try tampered.write(to: URL(fileURLWithPath: bad))
        r = try await fileRunCLI(["decrypt-file", "--encryption-context", "app=test,file=plain"] + socket + [bad, badOut])
        #expect(r.status == 1)
        #expect(r.stderr.contains("does not verify"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: badOut))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasSuffix(".tmp") })

        // Truncated: exit 1, no output file.
        try envelope.prefix(envelope.count - 10).write(to: URL(fileURLWithPath: bad))
        r = try await fileRunCLI(["decrypt-file", "--encryption-context", "app=test,file=plain"] + socket + [bad, badOut])
        #expect(r.status == 1)
        #expect(!FileManager.default.fileExists(atPath: badOut))

        // Wrong or missing context: exit 1, no output file.
        let wrongOut = dir + "/wrong.out"
        for context in [["--encryption-context", "app=other,file=plain"], []] {
            r = try await fileRunCLI(["decrypt-file"] + context + socket + [sealed, wrongOut])
            #expect(r.status == 1)
            #expect(r.stderr.contains("encryption context"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: wrongOut))
        }

        // An unknown key: exit 1 with the service's reason, no output file.
        r = try await fileRunCLI(["encrypt-file", "--key-id", "alias/none"] + socket + [plain, wrongOut])
        #expect(r.status == 1)
        #expect(r.stderr.contains("NotFoundException"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: wrongOut))

        // A file over 8 MiB: no progress bar when stderr is a pipe, one when it is a terminal.
        let big = dir + "/big", bigSealed = dir + "/big.sealed"
        try Data(count: 9 << 20).write(to: URL(fileURLWithPath: big))
        r = try await fileRunCLI(["encrypt-file", "--key-id", key] + socket + [big, bigSealed])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/script") {
            // script(1) runs the command on a pseudo-terminal.
            let command = ([try FileTestBinaries.cli(), "encrypt-file", "--key-id", key] + socket + [big, bigSealed])
                .map { "'\($0)'" }.joined(separator: " ")
            let tty = try await ChildProcess.run("/usr/bin/script", ["-qec", command, "/dev/null"])
            let shown = tty.output
            #expect(tty.status == 0, "\(shown) \(tty.errors)")
            // 9 MiB is under the bar's 64 MiB threshold (ProgressBarTests draws one).
            #expect(!shown.contains("MiB/s"), "\(shown)")
        }
        r = try await fileRunCLI(["decrypt-file"] + socket + [bigSealed, "-"])
        #expect(r.status == 0)
        #expect(r.stdout == Data(count: 9 << 20))

        // status: JSON by default, exit 0 when healthy.
        r = try await fileRunCLI(["status"] + socket)
        #expect(r.status == 0, "\(r.stderr)")
        let health = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        #expect(health["status"] as? String == "ok")
        #expect(health["token_present"] as? Bool == true)
        r = try await fileRunCLI(["status", "--output", "text"] + socket)
        #expect(r.status == 0)
        #expect(r.text.contains("status: ok"))
    }

    @Test("status and decrypt-file exit 1 when no daemon answers")
    func noDaemon() async throws {
        let dir = try fileTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var r = try await fileRunCLI(["status", "--socket", dir + "/none.sock"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("p11kms status:"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/in"))
        r = try await fileRunCLI(["decrypt-file", "--socket", dir + "/none.sock", dir + "/in", dir + "/out"])
        #expect(r.status == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }

    @Test("shell completion scripts are generated")
    func completion() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let r = try await fileRunCLI(["--generate-completion-script", shell])
            #expect(r.status == 0)
            #expect(r.text.contains("encrypt-file"))
        }
    }
}
