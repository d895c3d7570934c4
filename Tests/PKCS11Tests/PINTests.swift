import Foundation
import SoftHSMTestSupport
import PKCS11
import Testing

@Suite("PIN sources")
struct PINTests {
    func tempFile(_ contents: String, mode: Int) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pin-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(contents.utf8),
                                               attributes: [.posixPermissions: mode]))
        return path
    }

    func string(_ pin: PIN) -> String { pin.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    @Test func fileWithOwnerOnlyModeIsReadWithoutTrailingNewline() throws {
        let path = try tempFile("1234-abcd\n", mode: 0o600)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(string(try PIN.fromFile(path)) == "1234-abcd")
        let readOnly = try tempFile("5678\r\n", mode: 0o400)
        defer { try? FileManager.default.removeItem(atPath: readOnly) }
        #expect(string(try PIN.fromFile(readOnly)) == "5678")
    }

    @Test(arguments: [0o640, 0o604, 0o644, 0o660, 0o620, 0o602])
    func fileThatGroupOrOthersCanAccessIsRefused(mode: Int) throws {
        let path = try tempFile("1234", mode: mode)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: PKCS11UsageError.self) { try PIN.fromFile(path) }
        #expect(error?.message.contains("chmod 600") == true)
    }

    @Test func emptyMissingAndDirectoryFilesAreRefused() throws {
        let empty = try tempFile("\n", mode: 0o600)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: PKCS11UsageError.self) { try PIN.fromFile(empty) }
        #expect(throws: PKCS11UsageError.self) { try PIN.fromFile("/nonexistent/pin") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pindir-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: PKCS11UsageError.self) { try PIN.fromFile(dir) }
    }

    @Test func environmentVariable() throws {
        let name = "P11KMS_TEST_PIN_\(UInt32.random(in: 0...UInt32.max))"
        // Under the lock every child start takes: a concurrent unsetenv can crash one.
        let (pin, after) = try ProcessEnvironment.withLock {
            setenv(name, "env-pin", 1)
            defer { unsetenv(name) }
            return (string(try PIN.fromEnvironment(name)), getenv(name))
        }
        #expect(pin == "env-pin")
        // Read once, then gone: children do not inherit it.
        #expect(after == nil)
        #expect(throws: PKCS11UsageError.self) { try PIN.fromEnvironment(name + "_UNSET") }
    }

    @Test func credentialsDirectory() throws {
        // $CREDENTIALS_DIRECTORY is process-wide; this is the only test that sets it.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(FileManager.default.createFile(atPath: dir + "/user-pin", contents: Data("cred-pin".utf8),
                                               attributes: [.posixPermissions: 0o400]))
        ProcessEnvironment.withLock { _ = setenv("CREDENTIALS_DIRECTORY", dir, 1) }
        defer { ProcessEnvironment.withLock { _ = unsetenv("CREDENTIALS_DIRECTORY") } }
        #expect(string(try PIN.fromCredentialsDirectory("user-pin")) == "cred-pin")
        #expect(throws: PKCS11UsageError.self) { try PIN.fromCredentialsDirectory("../etc/passwd") }
        #expect(throws: PKCS11UsageError.self) { try PIN.fromCredentialsDirectory("missing") }
    }

    @Test func secureBytesHoldsWhatItWasGiven() {
        let secret = SecureBytes([1, 2, 3])
        #expect(secret.count == 3)
        #expect(secret.withUnsafeBytes { Array($0) } == [1, 2, 3])
        #expect(SecureBytes([]).count == 0)
    }
}
