import DaemonTestSupport
import Foundation
import Testing

/// A clone must pass its own tests anywhere: nothing the tests, the sources
/// or the scripts read may live outside the repository (such as the team's
/// directory beside the checkout on one team's machines).
@Suite("The repository is self-contained")
struct RepositoryTests {
    /// The team's directory beside the checkout, which a clone elsewhere lacks.
    static let outsideDirectoryName = ["sha", "red"].joined()

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Every text file under Sources/, Tests/, scripts/ and .ci/, and Package.swift, with its path from the root.
    static func files() throws -> [(path: String, text: String)] {
        var found: [(String, String)] = []
        for top in ["Sources", "Tests", "scripts", ".ci"] {
            let base = root.appendingPathComponent(top)
            guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) else {
                continue
            }
            for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                let relative = String(url.path.dropFirst(root.path.count + 1))
                if relative.hasPrefix("Tests/PKCS11Tests/Resources/") { continue }   // vector data, not paths
                guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
                found.append((relative, text))
            }
        }
        found.append(("Package.swift", try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)))
        return found
    }

    @Test func noPathNamesTheTeamsSharedDirectory() throws {
        let files = try Self.files()
        #expect(files.count > 50, "found only \(files.count) files under \(Self.root.path)")
        // Built from parts, so this file does not itself name the directory it forbids.
        let name = Self.outsideDirectoryName
        let pattern = try Regex(#"(\.\./|\b)"# + name + #"/(testvectors|DESIGN|CONVENTIONS)|\.\./"# + name + #"\b"#)
        for file in files where file.path != "Tests/DaemonTests/RepositoryTests.swift" {
            for (number, line) in file.text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.contains(pattern) {
                Issue.record("\(file.path):\(number + 1) reaches outside the repository: \(line)")
            }
        }
    }

    /// `URL(fileURLWithPath: #filePath)` followed by more
    /// `deletingLastPathComponent()` calls than the file is deep, or by a
    /// `..` component, leaves the checkout.
    @Test func noSourceFileClimbsAboveTheCheckout() throws {
        let chain = try Regex(#"#filePath\)((?:\s*\.deletingLastPathComponent\(\))*)(\s*\.appendingPathComponent\("([^"]*)")?"#)
        var checked = 0
        for file in try Self.files() where file.path.hasSuffix(".swift") {
            let depth = file.path.split(separator: "/").count   // Tests/X/Y.swift: 3 removals reach the root
            for match in file.text.matches(of: chain) {
                checked += 1
                let removals = match.output[1].substring.map { $0.matches(of: /deletingLastPathComponent/).count } ?? 0
                let appended = match.output[3].substring.map(String.init) ?? ""
                #expect(removals <= depth, "\(file.path): #filePath climbs \(removals) levels, above the checkout")
                #expect(!appended.split(separator: "/").contains(".."), "\(file.path): #filePath then \(appended)")
            }
        }
        #expect(checked >= 5, "the pattern found only \(checked) uses of #filePath")
    }

    /// Shell scripts go to the checkout (`cd "$(dirname "$0")/.."`) and no higher.
    @Test func noScriptClimbsAboveTheCheckout() throws {
        for file in try Self.files() where file.path.hasPrefix("scripts/") || file.path.hasPrefix(".ci/") {
            #expect(!file.text.contains("/../.."), "\(file.path) climbs above the checkout")
            let outside = "../" + Self.outsideDirectoryName
            #expect(!file.text.contains(outside), "\(file.path) reads \(outside)")
        }
    }

    /// The test vectors are in the repository with their licence, and the
    /// tests read them as resources of the test bundle.
    @Test func wycheproofVectorsAreInTheRepositoryWithTheirLicence() throws {
        let vectors = Self.root.appendingPathComponent("Tests/PKCS11Tests/Resources/wycheproof")
        let names = try FileManager.default.contentsOfDirectory(atPath: vectors.path)
        #expect(names.contains("LICENSE"))
        #expect(try String(contentsOf: vectors.appendingPathComponent("LICENSE"), encoding: .utf8).contains("Apache License"))
        #expect(names.filter { $0.hasSuffix("_test.json") }.count == 6, "\(names)")
        let loader = try String(contentsOf: Self.root.appendingPathComponent("Tests/PKCS11Tests/WycheproofTests.swift"), encoding: .utf8)
        #expect(loader.contains("Bundle.module"))
        #expect(!loader.contains("P11KMS_WYCHEPROOF_DIR"))
    }
}
