#if canImport(Glibc)
import Glibc
#endif

/// A PIN held in memory that is zeroed when freed. PINs come from a file
/// (refused when group- or world-accessible), an environment variable or
/// systemd's `$CREDENTIALS_DIRECTORY` — never from a command line, where every
/// user on the host can read them in `/proc/*/cmdline`.
public struct PIN: Sendable {
    let secret: SecureBytes

    /// The longest PIN accepted; PKCS#11 tokens allow far less in practice.
    public static let maximumLength = 255

    public init(_ pin: String) {
        secret = SecureBytes(Array(pin.utf8))
    }

    init(secret: SecureBytes) { self.secret = secret }

    public var count: Int { secret.count }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try secret.withUnsafeBytes(body)
    }

    /// Reads a PIN from a file, without its trailing newline. The file must be
    /// a regular file that neither its group nor others can access.
    public static func fromFile(_ path: String) throws -> PIN {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw PKCS11UsageError("cannot open PIN file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw PKCS11UsageError("cannot stat PIN file \(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw PKCS11UsageError("PIN file \(path) is not a regular file")
        }
        guard st.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            let mode = String(st.st_mode & 0o777, radix: 8)
            throw PKCS11UsageError(
                "PIN file \(path) has mode \(mode): group or others can access it; run chmod 600 \(path)")
        }
        let capacity = maximumLength + 2
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer {
            explicit_bzero(buffer.baseAddress!, capacity)
            buffer.deallocate()
        }
        var filled = 0
        while filled < capacity {
            let n = read(fd, buffer.baseAddress! + filled, capacity - filled)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw PKCS11UsageError("cannot read PIN file \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            filled += n
        }
        return try fromBytes(UnsafeRawBufferPointer(rebasing: buffer.prefix(filled)), source: "PIN file \(path)")
    }

    /// Reads a PIN from an environment variable, then wipes the value in
    /// place and unsets the variable: child processes do not inherit it, and
    /// `/proc/<pid>/environ` (which shows the original environment block, where
    /// the value lives) no longer holds it. Call it before other threads start,
    /// as for any environment change.
    public static func fromEnvironment(_ name: String) throws -> PIN {
        guard let value = getenv(name) else {
            throw PKCS11UsageError("environment variable \(name) is not set")
        }
        let length = strlen(value)
        defer {
            memset(value, 0, length)
            unsetenv(name)
        }
        return try fromBytes(UnsafeRawBufferPointer(start: value, count: length), source: "environment variable \(name)")
    }

    /// Reads a PIN from systemd's credentials directory (`LoadCredential=`),
    /// `$CREDENTIALS_DIRECTORY/<name>`.
    public static func fromCredentialsDirectory(_ name: String) throws -> PIN {
        guard let dir = getenv("CREDENTIALS_DIRECTORY").map({ String(cString: $0) }), !dir.isEmpty else {
            throw PKCS11UsageError("CREDENTIALS_DIRECTORY is not set; is the service started with LoadCredential=?")
        }
        guard !name.contains("/"), !name.isEmpty, name != "..", name != "." else {
            throw PKCS11UsageError("credential name \(name) is not a plain file name")
        }
        return try fromFile(dir + "/" + name)
    }

    private static func fromBytes(_ raw: UnsafeRawBufferPointer, source: String) throws -> PIN {
        var end = raw.count
        while end > 0 && (raw[end - 1] == 0x0A || raw[end - 1] == 0x0D) { end -= 1 }
        guard end > 0 else { throw PKCS11UsageError("\(source) is empty") }
        guard end <= maximumLength else { throw PKCS11UsageError("\(source) holds more than \(maximumLength) bytes") }
        return PIN(secret: SecureBytes(copying: UnsafeRawBufferPointer(rebasing: raw.prefix(end))))
    }
}
