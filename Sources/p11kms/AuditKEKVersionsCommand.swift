import ArgumentParser
import Foundation
import KMSAuditFormat

extension AuditCommand {
    /// Which versions of the Kubernetes plugin's KEK data still needs, from
    /// the audit log: every Decrypt the plugin performed names the key and
    /// version that sealed the seed it opened.
    struct KEKVersions: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kek-versions",
            abstract: "Report which key versions the Kubernetes plugin's Decrypt calls still use.",
            discussion: """
                Reads the audit log (one file or the audit directory, in chain order) and counts the successful \
                Decrypt calls of the Kubernetes KMS plugin (those whose context carries the plugin's \
                encrypt-uid.kms.p11kms.io annotation; the plugin's own health probes are not counted) by key and \
                version, with the first and last time each was used.

                After rotating the KEK and re-encrypting every Secret \
                (kubectl get secrets -A -o json | kubectl replace -f -), restart kube-apiserver and run this with \
                --since set to the restart: a version that no longer appears is no longer referenced. Check the \
                log with `p11kms audit verify` first; this command reads it as it is.
                """)

        @Argument(help: "An audit log file or the audit directory.") var path: String
        @Option(help: ArgumentHelp("Only this key (key id or key ARN).", valueName: "key")) var keyId: String?
        @Option(help: ArgumentHelp("Only calls at or after this time (ISO 8601, e.g. 2026-01-02T03:04:05Z).", valueName: "time"))
        var since: String?
        @Flag(help: "Print JSON.") var json = false

        struct Use {
            var count = 0
            var first: String
            var last: String
        }

        func run() throws {
            let sinceDate: Date?
            if let since {
                guard let date = (try? Date.ISO8601FormatStyle().parse(since))
                    ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(since)) else {
                    throw ValidationError("--since \(since) is not an ISO 8601 time such as 2026-01-02T03:04:05Z")
                }
                sinceDate = date
            } else {
                sinceDate = nil
            }
            let onlyKey = keyId.map { $0.range(of: ":key/").map { String(keyId![$0.upperBound...]) } ?? $0 }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("\(path) does not exist")
            }
            let files = isDirectory.boolValue ? try AuditFile.chainFiles(in: path) : [path]
            var uses: [String: [UInt32: Use]] = [:]
            let decoder = JSONDecoder()
            for file in files {
                let text = try String(contentsOfFile: file, encoding: .utf8)
                for line in text.split(separator: "\n") where line.contains("\"operation\":\"Decrypt\"") {
                    guard let event = try? decoder.decode(AuditEvent.self, from: Data(line.utf8)),
                          event.operation == "Decrypt", event.outcome == .allowed,
                          let key = event.keyID, let version = event.keyVersion,
                          event.encryptionContext?[Self.pluginAnnotation] != nil else { continue }
                    if let onlyKey, key != onlyKey { continue }
                    if let sinceDate, event.time < sinceDate { continue }
                    let time = AuditLine.formatTime(event.time)
                    uses[key, default: [:]][version, default: Use(first: time, last: time)].count += 1
                    uses[key]![version]!.last = time
                }
            }
            let rows = uses.sorted { $0.key < $1.key }.flatMap { key, versions in
                versions.sorted { $0.key < $1.key }.map { (key, $0.key, $0.value) }
            }
            if json {
                let object = rows.map { key, version, use -> [String: Any] in
                    ["key_id": key, "key_version": version, "decrypts": use.count, "first": use.first, "last": use.last]
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            if rows.isEmpty {
                print("no Decrypt calls of the Kubernetes plugin in \(files.count) file(s)"
                      + (sinceDate != nil ? " since \(since!)" : ""))
                return
            }
            print("KEY ID                                VERSION  DECRYPTS  FIRST                     LAST")
            for (key, version, use) in rows {
                print(key.padding(toLength: 38, withPad: " ", startingAt: 0)
                      + String(version).padding(toLength: 9, withPad: " ", startingAt: 0)
                      + String(use.count).padding(toLength: 10, withPad: " ", startingAt: 0)
                      + use.first.padding(toLength: 26, withPad: " ", startingAt: 0) + use.last)
            }
        }

        /// The annotation the plugin binds into every ciphertext it makes
        /// (KMSKubernetes' `Annotations.encryptUID`; the CLI does not link it).
        static let pluginAnnotation = "encrypt-uid.kms.p11kms.io"
    }
}
