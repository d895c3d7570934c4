import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Overwrites memory with zeros in a way the optimiser may not drop.
func secureZero(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    #if canImport(Darwin)
    _ = memset_s(base, buffer.count, 0, buffer.count)
    #else
    explicit_bzero(base, buffer.count)
    #endif
}

/// Wipes the bytes in place (only this copy: the caller makes sure it is the
/// one that matters, e.g. by holding the only reference).
func secureZero(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { secureZero($0) }
}

func secureZero(_ data: inout Data) {
    data.withUnsafeMutableBytes { secureZero($0) }
}

func secureZero(_ buffer: inout ByteBuffer) {
    buffer.withUnsafeMutableReadableBytes { secureZero($0) }
}
