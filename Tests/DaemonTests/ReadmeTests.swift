import Foundation
import Testing

/// The README's curl walkthrough, run as written against a real daemon.
@Suite("README")
struct ReadmeTests {
    static func block(after marker: String) throws -> String {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        guard let markerRange = text.range(of: marker),
              let open = text.range(of: "```sh\n", range: markerRange.upperBound..<text.endIndex),
              let close = text.range(of: "\n```", range: open.upperBound..<text.endIndex) else {
            throw DaemonError("README has no sh block after '\(marker)'")
        }
        return String(text[open.upperBound..<close.lowerBound])
    }

    @Test func curlWalkthroughWorksAsWritten() async throws {
        let script = try Self.block(after: "<!-- tested: curl-walkthrough")
        try await withDaemon { d in
            // The README runs from the checkout, where .p11kms-dev is the state directory.
            let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: cwd) }
            try FileManager.default.createSymbolicLink(atPath: cwd.appendingPathComponent(".p11kms-dev").path,
                                                       withDestinationPath: d.stateDirectory)
            let bash = Process()
            bash.executableURL = URL(fileURLWithPath: "/bin/bash")
            bash.arguments = ["-euo", "pipefail", "-c", script]
            bash.currentDirectoryURL = cwd
            let out = Pipe()
            bash.standardOutput = out
            try bash.run()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            bash.waitUntilExit()
            #expect(bash.terminationStatus == 0, "\(output)")
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.contains("hello, HSM"), "\(output)")
            #expect(output.contains(#""__type":"InvalidCiphertextException""#))
            #expect(output.contains(#""status":"ok""#))
            let aliases = try d.callJSON("ListAliases", [:]).1["Aliases"] as? [[String: Any]]
            #expect(aliases?.first?["AliasName"] as? String == "alias/demo")
        }
    }

    @Test func awsSDKWalkthroughWorksAsWritten() async throws {
        let script = try Self.block(after: "<!-- tested: aws-sdk-walkthrough")
        // `scripts/dev --tcp 127.0.0.1:4599`, on whatever port is free here.
        try await withDaemon(arguments: ["--tcp", "127.0.0.1:0"]) { d in
            let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("readme-sdk-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: cwd) }
            try FileManager.default.createSymbolicLink(atPath: cwd.appendingPathComponent(".p11kms-dev").path,
                                                       withDestinationPath: d.stateDirectory)
            let bash = Process()
            bash.executableURL = URL(fileURLWithPath: "/bin/bash")
            bash.arguments = ["-euo", "pipefail", "-c", script]
            bash.currentDirectoryURL = cwd
            // "With no other AWS setting": none of the host's AWS variables or files.
            bash.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
                .merging(["HOME": cwd.path]) { $1 }
            let out = Pipe(), err = Pipe()
            bash.standardOutput = out
            bash.standardError = err
            try bash.run()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            bash.waitUntilExit()
            #expect(bash.terminationStatus == 0, "\(output)\n\(errors)")
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.contains("hello, SDK") && lines.contains("hello, boto3"), "\(output)")
            #expect(output.contains(#""Keys": []"#), "\(output)")
            let keys = try d.callJSON("ListKeys", [:]).1["Keys"] as? [[String: Any]]
            #expect(keys?.count == 1)
        }
    }

    @Test func cliWalkthroughWorksAsWritten() async throws {
        let script = try Self.block(after: "<!-- tested: cli-walkthrough")
        try await withDaemon { d in
            let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("readme-cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: cwd) }
            try FileManager.default.createSymbolicLink(atPath: cwd.appendingPathComponent(".p11kms-dev").path,
                                                       withDestinationPath: d.stateDirectory)
            let bash = Process()
            bash.executableURL = URL(fileURLWithPath: "/bin/bash")
            bash.arguments = ["-euo", "pipefail", "-c", script]
            bash.currentDirectoryURL = cwd
            // The README runs from the checkout, where .build/debug holds p11kms.
            let binaries = URL(fileURLWithPath: try DaemonProcess.cli()).deletingLastPathComponent().path
            bash.environment = ProcessInfo.processInfo.environment
                .merging(["PATH": binaries + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]) { $1 }
            let out = Pipe()
            bash.standardOutput = out
            try bash.run()
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            bash.waitUntilExit()
            #expect(bash.terminationStatus == 0, "\(output)")
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.filter { $0 == "hello, HSM" }.count == 2, "\(output)")
            #expect(lines.contains("file round trip ok") && lines.contains("Verified OK"), "\(output)")
            #expect(lines.last == "PendingDeletion", "\(output)")
        }
    }
}
