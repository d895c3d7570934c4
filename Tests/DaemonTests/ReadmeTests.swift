import DaemonTestSupport
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

    /// Runs a README block with bash, as a reader would at the checkout:
    /// from a directory where `.p11kms-dev` is the daemon's state directory.
    /// `environment` replaces the inherited one.
    static func run(_ script: String, against d: DaemonProcess, environment: [String: String]? = nil,
                    withErrors: Bool = false) async throws -> (Int32, String) {
        let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: cwd) }
        try FileManager.default.createSymbolicLink(atPath: cwd.appendingPathComponent(".p11kms-dev").path,
                                                   withDestinationPath: d.stateDirectory)
        return try await DaemonProcess.run("/bin/bash", ["-euo", "pipefail", "-c", script],
                                     environment: (environment ?? ProcessInfo.processInfo.environment)
                                        .merging(["HOME": cwd.path]) { $1 },   // a fresh home: no ~/.aws of the host's
                                     directory: cwd, withErrors: withErrors)
    }

    @Test func curlWalkthroughWorksAsWritten() async throws {
        let script = try Self.block(after: "<!-- tested: curl-walkthrough")
        try await withDaemon { d in
            let (status, output) = try await Self.run(script, against: d)
            #expect(status == 0, "\(output)")
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
            // "With no other AWS setting": none of the host's AWS variables, nor its ~/.aws.
            let (status, output) = try await Self.run(
                script, against: d, environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") },
                withErrors: true)
            #expect(status == 0, "\(output)")
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
            // The README runs from the checkout, where .build/debug holds p11kms.
            let binaries = URL(fileURLWithPath: try DaemonProcess.cli()).deletingLastPathComponent().path
            let environment = ProcessInfo.processInfo.environment
                .merging(["PATH": binaries + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]) { $1 }
            let (status, output) = try await Self.run(script, against: d, environment: environment)
            #expect(status == 0, "\(output)")
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.filter { $0 == "hello, HSM" }.count == 2, "\(output)")
            #expect(lines.contains("file round trip ok") && lines.contains("Verified OK"), "\(output)")
            #expect(lines.last == "PendingDeletion", "\(output)")
        }
    }
}
