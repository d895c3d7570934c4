import DaemonTestSupport
import Foundation
import Testing

/// `--help` overviews are wrapped by ArgumentParser to the terminal's width,
/// which keeps every newline of the text it is given: a paragraph written
/// over several source lines would break mid-sentence at each of them.
@Suite("Help text")
struct HelpTextTests {
    /// The overview's paragraphs (up to USAGE:) of `tool --help` at `width` columns.
    static func overview(_ tool: String, width: Int) async throws -> [[String]] {
        var environment = ProcessInfo.processInfo.environment
        environment["COLUMNS"] = String(width)
        let (status, output) = try await DaemonProcess.run(tool, ["--help"], environment: environment)
        #expect(status == 0)
        let text = output.components(separatedBy: "\nUSAGE:")[0]
        return text.components(separatedBy: "\n\n").map { $0.split(separator: "\n").map(String.init) }
    }

    @Test("paragraphs are wrapped to the width, never broken early",
          arguments: [("p11kms", 80), ("p11kms", 120), ("p11kmsd", 80), ("p11kmsd", 100)])
    func wrapsWholeParagraphs(_ name: String, _ width: Int) async throws {
        let tool = URL(fileURLWithPath: try DaemonProcess.binary()).deletingLastPathComponent()
            .appendingPathComponent(name).path
        let paragraphs = try await Self.overview(tool, width: width)
        #expect(paragraphs.count >= 3)
        for lines in paragraphs {
            for (line, next) in zip(lines, lines.dropFirst()) {
                #expect(line.count <= width, "\(line)")
                // A greedy wrap breaks a line only when the next word does not
                // fit (ArgumentParser keeps the last column free).
                let nextWord = next.split(separator: " ").first ?? ""
                #expect(line.count + 1 + nextWord.count >= width, "broken early: '\(line)' before '\(next)'")
            }
        }
    }

    @Test func theSocketSentenceReadsWhole() async throws {
        let joined = try await Self.overview(try DaemonProcess.cli(), width: 80).map { $0.joined(separator: " ") }
        #expect(joined.contains { $0.contains("talk to p11kmsd over its socket (--socket, $P11KMS_SOCKET") }, "\(joined)")
    }
}
