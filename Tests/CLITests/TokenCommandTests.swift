import Foundation
import Testing

/// The token administration commands against a fresh dev token.
@Suite("p11kms token administration", .serialized)
struct TokenCommandTests {
    private func json(_ r: FileCLIResult) throws -> Any {
        try JSONSerialization.jsonObject(with: r.stdout)
    }

    private func writePIN(_ path: String, _ pin: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data((pin + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw FileTestError("cannot write \(path)")
        }
    }

    @Test("info, list-objects, random, change-pin and delete-object")
    func administration() async throws {
        let dir = try fileTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = ["--state-dir", dir]
        var r = try await fileRunCLI(["token", "self-test"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await fileRunCLI(["token", "setup", "--pin-file", dir + "/user-pin"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.text.contains("domain key unwrap template: enforced"), "\(r.text)")

        r = try await fileRunCLI(["token", "info", "--json", "--token-label", "p11kms-dev"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        let info = try #require(try json(r) as? [String: Any])
        #expect(info["label"] as? String == "p11kms-dev")
        #expect(info["initialized"] as? Bool == true)
        #expect(info["user_pin_initialized"] as? Bool == true)
        // The audit key's fingerprint, as `audit verify --key-fingerprint` takes it.
        let fingerprint = info["audit_key_fingerprint"] as? String ?? ""
        #expect(fingerprint.hasPrefix("SHA256:") && fingerprint.count == 71, "\(info)")
        r = try await fileRunCLI(["audit", "export-public-key"] + state)
        #expect(r.status == 0, "\(r.stderr)")

        // Without a PIN only the public half of the audit key shows.
        r = try await fileRunCLI(["token", "list-objects", "--json"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        let publicOnly = try #require(try json(r) as? [[String: Any]])
        #expect(publicOnly.allSatisfy { $0["private"] as? Bool == false })
        r = try await fileRunCLI(["token", "list-objects", "--json", "--pin-file", dir + "/user-pin"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        let objects = try #require(try json(r) as? [[String: Any]])
        let domain = try #require(objects.first { $0["label"] as? String == "p11kms-domain-key" })
        #expect(domain["class"] as? String == "secretKey")
        #expect(domain["key_type"] as? String == "AES")
        #expect(domain["sensitive"] as? Bool == true)
        #expect(domain["extractable"] as? Bool == false)
        #expect(domain["value"] == nil)
        #expect(objects.contains { $0["label"] as? String == "p11kms-audit-key" && $0["class"] as? String == "privateKey" })

        r = try await fileRunCLI(["token", "random", "--bytes", "16", "--hex"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        let hex = r.text.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hex.count == 32 && hex.allSatisfy(\.isHexDigit))
        r = try await fileRunCLI(["token", "random", "--bytes", "24", "--base64"] + state)
        #expect(Data(base64Encoded: r.text.trimmingCharacters(in: .whitespacesAndNewlines))?.count == 24)
        r = try await fileRunCLI(["token", "random", "--bytes", "7"] + state)
        #expect(r.stdout.count == 7)

        // change-pin, then the new PIN logs in and the old one no longer does.
        let newPIN = dir + "/new-pin"
        try writePIN(newPIN, "new-user-pin-1234")
        r = try await fileRunCLI(["token", "change-pin", "--pin-file", dir + "/user-pin", "--new-pin-file", newPIN] + state)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await fileRunCLI(["token", "list-objects", "--json", "--pin-file", newPIN] + state)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(((try? json(r)) as? [[String: Any]])?.count == objects.count)
        r = try await fileRunCLI(["token", "list-objects", "--pin-file", dir + "/user-pin"] + state)
        #expect(r.status == 1)
        #expect(r.stderr.contains("PIN_INCORRECT"), "\(r.stderr)")

        // A PIN file others can read is refused.
        let loose = dir + "/loose-pin"
        try writePIN(loose, "new-user-pin-1234")
        chmod(loose, 0o644)
        r = try await fileRunCLI(["token", "list-objects", "--pin-file", loose] + state)
        #expect(r.status != 0)
        #expect(r.stderr.contains("chmod 600"), "\(r.stderr)")

        // delete-object: the audit key has two halves, so --all is needed.
        r = try await fileRunCLI(["token", "delete-object", "--pin-file", newPIN, "--label", "p11kms-audit-key"] + state)
        #expect(r.status == 1)
        #expect(r.stderr.contains("--all"))
        r = try await fileRunCLI(["token", "delete-object", "--pin-file", newPIN, "--label", "p11kms-seal-nope"] + state)
        #expect(r.status == 1)
        r = try await fileRunCLI(["token", "delete-object", "--pin-file", newPIN, "--label", "p11kms-audit-key", "--all"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await fileRunCLI(["token", "delete-object", "--pin-file", newPIN, "--label", "p11kms-domain-key"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await fileRunCLI(["token", "list-objects", "--json", "--pin-file", newPIN] + state)
        let left = try #require(try json(r) as? [[String: Any]])
        #expect(left.map { $0["label"] as? String } == ["p11kms-metadata-seal-key"])
    }

    @Test("init refuses an initialised token; init on a free slot, init-pin, then the user logs in")
    func initialisation() async throws {
        let dir = try fileTestDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = ["--state-dir", dir]
        var r = try await fileRunCLI(["token", "self-test"] + state)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await fileRunCLI(["token", "list-slots", "--json"] + state)
        let listing = try #require(try json(r) as? [String: Any])
        let slots = try #require(listing["slots"] as? [[String: Any]])
        let dev = try #require(slots.first { ($0["token"] as? [String: Any])?["label"] as? String == "p11kms-dev" })
        let free = try #require(slots.first { ($0["token"] as? [String: Any])?["initialized"] as? Bool == false })

        let soPIN = dir + "/second-so-pin", userPIN = dir + "/second-user-pin"
        try writePIN(soPIN, "second-so-1234")
        try writePIN(userPIN, "second-user-1234")
        r = try await fileRunCLI(["token", "init", "--slot", "\(dev["slot"]!)", "--label", "clobber", "--so-pin-file", soPIN] + state)
        #expect(r.status == 1)
        #expect(r.stderr.contains("already initialised"), "\(r.stderr)")

        r = try await fileRunCLI(["token", "init", "--slot", "\(free["slot"]!)", "--label", "second", "--so-pin-file", soPIN] + state)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await fileRunCLI(["token", "init-pin", "--token-label", "second", "--so-pin-file", soPIN,
                            "--new-pin-file", userPIN] + state)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await fileRunCLI(["token", "info", "--json", "--token-label", "second"] + state)
        #expect((try? json(r) as? [String: Any])?["user_pin_initialized"] as? Bool == true)
        r = try await fileRunCLI(["token", "setup", "--token-label", "second", "--pin-file", userPIN] + state)
        #expect(r.status == 0, "\(r.stderr)")
        r = try await fileRunCLI(["token", "list-objects", "--json", "--token-label", "second", "--pin-file", userPIN] + state)
        let objects = try #require(try json(r) as? [[String: Any]])
        #expect(objects.contains { $0["label"] as? String == "p11kms-domain-key" })
        // The first token is untouched.
        r = try await fileRunCLI(["token", "info", "--json", "--token-label", "p11kms-dev"] + state)
        #expect(r.status == 0)
    }

    @Test("PINs are never taken from the command line")
    func noPINArguments() async throws {
        let r = try await fileRunCLI(["token", "change-pin", "--pin", "1234", "--new-pin", "5678"])
        #expect(r.status != 0)
    }
}
