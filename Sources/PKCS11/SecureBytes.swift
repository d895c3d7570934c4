#if canImport(Glibc)
import Glibc
#endif

/// Bytes that are zeroed when the last reference goes away, the model being
/// swift-crypto's `SecureBytes`. Used for PINs and other secrets that must
/// not linger in freed memory. The storage is never copied by this type.
public final class SecureBytes: @unchecked Sendable {
    // @unchecked: the buffer is written only in init (and zeroed in deinit);
    // afterwards it is read-only, so sharing it across threads is safe.
    private let buffer: UnsafeMutableRawBufferPointer

    public var count: Int { storedCount }

    /// Takes the first `count` bytes of a buffer the caller then wipes.
    init(copying source: UnsafeRawBufferPointer) {
        buffer = .allocate(byteCount: max(source.count, 1), alignment: 1)
        buffer.copyMemory(from: source)
        if source.count == 0 { buffer[0] = 0 }
        storedCount = source.count
    }

    private let storedCount: Int

    public convenience init(_ bytes: [UInt8]) {
        self.init(copying: bytes.withUnsafeBytes { UnsafeRawBufferPointer($0) })
    }

    deinit {
        explicit_bzero(buffer.baseAddress!, buffer.count)
        buffer.deallocate()
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: buffer.prefix(storedCount)))
    }
}
