import DaemonTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// scripts/package run on the debug binaries this test run uses (no second,
/// release build), the .deb unpacked with dpkg-deb into a throwaway root and
/// checked there: files, modes, owners, conffiles, the maintainer scripts,
/// the unit under `systemd-analyze verify`, and the sysusers.d and tmpfiles.d
/// files applied to that root. Nothing touches the real system. Synchronous:
/// every step waits for a process.
@Suite("Debian package")
struct DebianPackageTests {
    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Runs a command, failing the test unless it exits 0; returns stdout and stderr.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], directory: URL? = nil) async throws -> String {
        let (status, output) = try await DaemonProcess.run(executable, arguments, directory: directory, withErrors: true)
        guard status == 0 else {
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) exited \(status):\n\(output)")
        }
        return output
    }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func packageInstallsItsFilesIntoAThrowawayRoot() async throws {
        let bin = URL(fileURLWithPath: try DaemonProcess.binary()).deletingLastPathComponent().path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("p11kms-package-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let built = try await Self.run("/bin/bash", [Self.checkout.appendingPathComponent("scripts/package").path,
                                               "--bin-dir", bin, "--output", work.path])
        let version = try await Self.run(bin + "/p11kms", ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let deb = work.appendingPathComponent("p11kms_\(version)_amd64.deb").path
        #expect(FileManager.default.fileExists(atPath: deb), "\(built)")

        // The control fields and the conffile list.
        await #expect(try Self.run("/usr/bin/dpkg-deb", ["-f", deb, "Package", "Version", "Architecture"])
                == "Package: p11kms\nVersion: \(version)\nArchitecture: amd64\n")
        let depends = try await Self.run("/usr/bin/dpkg-deb", ["-f", deb, "Depends"])
        #expect(depends.contains("libssl3") && depends.contains("libsqlite3-0") && depends.contains("adduser"), "\(depends)")
        let control = work.appendingPathComponent("DEBIAN")
        try await Self.run("/usr/bin/dpkg-deb", ["-e", deb, control.path])
        #expect(try String(contentsOf: control.appendingPathComponent("conffiles"), encoding: .utf8) == "/etc/p11kms/p11kmsd.toml\n")
        for script in ["postinst", "prerm", "postrm"] {
            #expect(try Self.mode(control.appendingPathComponent(script).path) == 0o755, "\(script)")
            try await Self.run("/bin/sh", ["-n", control.appendingPathComponent(script).path])
        }

        // Every entry is root's, whoever built the package.
        let listing = try await Self.run("/usr/bin/dpkg-deb", ["-c", deb]).split(separator: "\n")
        #expect(!listing.isEmpty && listing.allSatisfy { $0.split(separator: " ", omittingEmptySubsequences: true)[1] == "root/root" })

        let root = work.appendingPathComponent("root")
        try await Self.run("/usr/bin/dpkg-deb", ["-x", deb, root.path])
        let expected: [(String, Int)] = [
            ("usr/sbin/p11kmsd", 0o755), ("usr/bin/p11kms", 0o755),
            ("lib/systemd/system/p11kmsd.service", 0o644), ("etc/p11kms/p11kmsd.toml", 0o644),
            ("usr/lib/sysusers.d/p11kms.conf", 0o644), ("usr/lib/tmpfiles.d/p11kms.conf", 0o644),
            ("usr/share/man/man1/p11kms.1.gz", 0o644), ("usr/share/man/man8/p11kmsd.8.gz", 0o644),
            ("usr/share/bash-completion/completions/p11kms", 0o644), ("usr/share/zsh/vendor-completions/_p11kms", 0o644),
            ("usr/share/fish/vendor_completions.d/p11kms.fish", 0o644),
            ("usr/share/doc/p11kms/copyright", 0o644), ("usr/share/doc/p11kms/changelog.gz", 0o644),
            ("usr/share/doc/p11kms/README.md", 0o644),
        ]
        for (path, mode) in expected {
            #expect(try Self.mode(root.appendingPathComponent(path).path) == mode, "\(path)")
        }
        await #expect(try Self.run(root.appendingPathComponent("usr/sbin/p11kmsd").path, ["--version"]) == version + "\n")
        // The shipped files are the repository's.
        for (shipped, source) in [("lib/systemd/system/p11kmsd.service", "contrib/p11kmsd.service"),
                                  ("etc/p11kms/p11kmsd.toml", "contrib/p11kmsd.toml")] {
            #expect(FileManager.default.contentsEqual(atPath: root.appendingPathComponent(shipped).path,
                                                      andPath: Self.checkout.appendingPathComponent(source).path), "\(shipped)")
        }
        // The man pages render without a warning.
        for page in ["usr/share/man/man1/p11kms.1.gz", "usr/share/man/man8/p11kmsd.8.gz"] {
            let rendered = try await Self.run("/bin/sh", ["-c", "zcat \"$0\" | man --warnings -l -Tutf8 - 2>&1 >/dev/null",
                                                    root.appendingPathComponent(page).path])
            #expect(rendered.isEmpty, "\(page): \(rendered)")
        }

        // The unit, as installed, with the units it names (sysinit.target, ...)
        // from the host: systemd-analyze verify reads everything inside the root.
        let unit = try String(contentsOf: root.appendingPathComponent("lib/systemd/system/p11kmsd.service"), encoding: .utf8)
        for setting in ["User=p11kms", "StateDirectory=p11kms", "RuntimeDirectory=p11kms", "ExecStart=/usr/sbin/p11kmsd "] {
            #expect(unit.contains("\n" + setting), "\(setting)")
        }
        try await Self.run("/bin/sh", ["-c", "for u in /lib/systemd/system/*; do [ -e \"$0/lib/systemd/system/${u##*/}\" ] || cp -a \"$u\" \"$0/lib/systemd/system/\"; done",
                                 root.path])
        let verify = try await Self.run("/usr/bin/systemd-analyze", ["verify", "--man=no", "--root=" + root.path,
                                                               "/lib/systemd/system/p11kmsd.service"])
        #expect(verify.isEmpty, "\(verify)")

        // What postinst applies, applied to the root: the user, the groups and
        // the directories (owned by that user: only root may chown).
        guard getuid() == 0 else { return }
        try await Self.run("/usr/bin/systemd-sysusers", ["--root=" + root.path, "p11kms.conf"])
        let passwd = try String(contentsOf: root.appendingPathComponent("etc/passwd"), encoding: .utf8)
        let groups = try String(contentsOf: root.appendingPathComponent("etc/group"), encoding: .utf8)
        #expect(passwd.contains("p11kms:x:") && passwd.contains(":/var/lib/p11kms:/usr/sbin/nologin"), "\(passwd)")
        for group in ["p11kms", "p11kms-clients", "p11kms-admin", "p11kms-creators"] {
            #expect(groups.split(separator: "\n").contains { $0.hasPrefix(group + ":x:") }, "\(group)")
        }
        try await Self.run("/usr/bin/systemd-tmpfiles", ["--root=" + root.path, "--create", "p11kms.conf"])
        #expect(try Self.mode(root.appendingPathComponent("var/lib/p11kms").path) == 0o700)
        #expect(try Self.mode(root.appendingPathComponent("etc/p11kms/credentials").path) == 0o700)
    }
}
