import CPKCS11
#if canImport(Glibc)
import Glibc
#endif

/// Lays a template out as a C `CK_ATTRIBUTE` array for the duration of
/// `body`. The values are copied into one buffer that is wiped afterwards,
/// because templates may carry key material (`CKA_VALUE` on import).
///
/// An array attribute (`Attribute.nested`) points at its own `CK_ATTRIBUTE`
/// array, laid out the same way and alive for the same duration.
func withCTemplate<R>(
    _ attributes: [Attribute],
    _ body: (UnsafeMutablePointer<CK_ATTRIBUTE>?, CK_ULONG) throws -> R
) rethrows -> R {
    let flat = attributes + attributes.flatMap { $0.nested ?? [] }
    let total = flat.reduce(0) { $0 + $1.value.count }
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 8)
    var offset = 0
    func lay(_ attribute: Attribute) -> CK_ATTRIBUTE {
        let start = storage.baseAddress! + offset
        attribute.value.withUnsafeBytes { if let base = $0.baseAddress { start.copyMemory(from: base, byteCount: $0.count) } }
        offset += attribute.value.count
        return CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(attribute.type.rawValue),
                            pValue: attribute.value.isEmpty ? nil : start, ulValueLen: CK_ULONG(attribute.value.count))
    }
    var arrays: [UnsafeMutableBufferPointer<CK_ATTRIBUTE>] = []
    defer {
        explicit_bzero(storage.baseAddress!, storage.count)
        storage.deallocate()
        for array in arrays { array.deallocate() }
    }
    var cAttributes = [CK_ATTRIBUTE]()
    cAttributes.reserveCapacity(attributes.count)
    for attribute in attributes {
        guard let nested = attribute.nested else {
            cAttributes.append(lay(attribute))
            continue
        }
        let array = UnsafeMutableBufferPointer<CK_ATTRIBUTE>.allocate(capacity: max(nested.count, 1))
        arrays.append(array)
        for (i, inner) in nested.enumerated() { (array.baseAddress! + i).initialize(to: lay(inner)) }
        cAttributes.append(CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(attribute.type.rawValue), pValue: UnsafeMutableRawPointer(array.baseAddress!),
                                        ulValueLen: CK_ULONG(nested.count * MemoryLayout<CK_ATTRIBUTE>.stride)))
    }
    return try cAttributes.withUnsafeMutableBufferPointer { buffer in
        try body(buffer.baseAddress, CK_ULONG(buffer.count))
    }
}

/// Runs a PKCS#11 call that writes variable-length output, with the
/// two-call size pattern — but never trusting the size blindly. When the
/// caller knows the size (from the key or the mechanism) it is tried first;
/// a size the token asks for is accepted only up to `cap`.
func callWithOutput(
    _ function: PKCS11Error.Function,
    expected: Int?,
    cap: Int,
    _ call: (UnsafeMutablePointer<CK_BYTE>?, UnsafeMutablePointer<CK_ULONG>) -> CK_RV
) throws -> [UInt8] {
    var length = CK_ULONG(0)
    if let expected {
        length = CK_ULONG(max(expected, 1))
    } else {
        try check(call(nil, &length), function)
    }
    for _ in 0..<2 {
        guard Int(length) <= cap else {
            throw PKCS11UsageError("\(function.rawValue) asked for \(length) output bytes, more than the \(cap) allowed")
        }
        var output = [UInt8](repeating: 0, count: max(Int(length), 1))
        let rv = output.withUnsafeMutableBufferPointer { call($0.baseAddress, &length) }
        if rv == CKR_BUFFER_TOO_SMALL { continue }
        try check(rv, function)
        guard Int(length) <= output.count else {
            throw PKCS11UsageError("\(function.rawValue) reported \(length) bytes written into \(output.count)")
        }
        output.removeSubrange(Int(length)...)
        return output
    }
    throw PKCS11Error(function: function, code: .bufferTooSmall)
}
