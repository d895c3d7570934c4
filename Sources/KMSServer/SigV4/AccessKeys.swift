import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An access key of the TCP listener: the id a client sends, the principal
/// name key policies and `[access]` use for it, and its secret.
public struct AccessKey: Sendable {
    public let id: String
    public let name: String
    private let root: SigningRoot
    /// `"AWS4" + secret`, the root of every signing key derivation.
    var signingRoot: SymmetricKey { root.key }

    /// Held as a `SymmetricKey` so its bytes are zeroed when the last copy
    /// goes. @unchecked: the key is immutable and only read after init, and
    /// SymmetricKey's storage is safe to read from several threads.
    private final class SigningRoot: @unchecked Sendable {
        let key: SymmetricKey
        init(_ key: SymmetricKey) { self.key = key }
    }

    public init(id: String, name: String, secret: String) throws {
        guard Self.isValidID(id) else {
            throw AccessKeyError("access key id '\(id.prefix(32))' must be 16 to 128 letters and digits")
        }
        guard Self.isValidName(name) else {
            throw AccessKeyError("access key name '\(name.prefix(64))' must be 1 to 64 letters, digits, '-', '_' or '.'")
        }
        guard secret.utf8.count >= 16, secret.utf8.count <= 128, secret.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw AccessKeyError("the secret of access key \(name) must be 16 to 128 printable characters without spaces")
        }
        self.id = id
        self.name = name
        self.root = SigningRoot(SymmetricKey(data: Array(("AWS4" + secret).utf8)))
    }

    /// Reads the secret from a file that only its owner may read (0600 or
    /// 0400), as PIN files are: a secret readable by the group is refused.
    public static func load(id: String, name: String, secretFile path: String) throws -> AccessKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw AccessKeyError("cannot open the secret file of access key \(name), \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw AccessKeyError("the secret file of access key \(name), \(path), is not a regular file")
        }
        guard st.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            throw AccessKeyError("the secret file of access key \(name), \(path), has mode \(String(st.st_mode & 0o777, radix: 8)): "
                                 + "group or others can access it; run chmod 600 \(path)")
        }
        var bytes = [UInt8](repeating: 0, count: 257)
        defer { bytes.withUnsafeMutableBytes { explicit_bzero($0.baseAddress!, $0.count) } }
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw AccessKeyError("cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            filled += n
        }
        guard filled < bytes.count else { throw AccessKeyError("the secret file \(path) is too long for a secret") }
        var end = filled
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }   // one trailing newline is normal
        return try AccessKey(id: id, name: name, secret: String(decoding: bytes[..<end], as: UTF8.self))
    }

    static func isValidID(_ id: String) -> Bool {
        (16...128).contains(id.utf8.count) && id.utf8.allSatisfy { isAlphanumeric($0) }
    }

    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    /// A fresh key for dev mode: an AWS-shaped id (`P11K` and 16 characters)
    /// and a 40-character secret, from the system's CSPRNG.
    public static func generateDevCredentials() -> (id: String, secret: String) {
        let upper = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let any = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var generator = SystemRandomNumberGenerator()
        let id = "P11K" + String((0..<16).map { _ in upper.randomElement(using: &generator)! })
        let secret = String((0..<40).map { _ in any.randomElement(using: &generator)! })
        return (id, secret)
    }
}

public struct AccessKeyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The configured access keys, by id.
public struct AccessKeyStore: Sendable {
    private let byID: [String: AccessKey]

    public init(_ keys: [AccessKey]) throws {
        var byID: [String: AccessKey] = [:]
        var names: Set<String> = []
        for key in keys {
            guard byID[key.id] == nil else { throw AccessKeyError("access key id \(key.id) is configured twice") }
            guard names.insert(key.name).inserted else { throw AccessKeyError("access key name \(key.name) is configured twice") }
            byID[key.id] = key
        }
        self.byID = byID
    }

    public var isEmpty: Bool { byID.isEmpty }
    public var names: [String] { byID.values.map(\.name).sorted() }

    func key(id: String) -> AccessKey? { byID[id] }
}
