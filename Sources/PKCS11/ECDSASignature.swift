import SwiftASN1

/// ECDSA signatures travel as strict DER (X9.62 `ECDSA-Sig-Value`) on the
/// wire and as raw `r || s` inside PKCS#11. Conversion both ways; the DER
/// side refuses BER (indefinite or long-form lengths where short suffices,
/// non-minimal or negative integers, trailing bytes) and out-of-range values.
public enum ECDSASignature {
    /// `r || s`, each left-padded to `coordinateByteCount`, from DER.
    public static func rawSignature(fromDER der: [UInt8], coordinateByteCount n: Int) throws -> [UInt8] {
        let (r, s): (ArraySlice<UInt8>, ArraySlice<UInt8>)
        do {
            let root = try DER.parse(der)
            (r, s) = try DER.sequence(root, identifier: .sequence) { nodes in
                let r = try ArraySlice<UInt8>(derEncoded: &nodes)
                let s = try ArraySlice<UInt8>(derEncoded: &nodes)
                return (r, s)
            }
        } catch {
            throw PKCS11UsageError("ECDSA signature is not strict DER")
        }
        return try pad(r, to: n) + pad(s, to: n)
    }

    /// DER `ECDSA-Sig-Value` from raw `r || s` (as `C_Sign` returns it).
    public static func derSignature(fromRaw raw: [UInt8]) throws -> [UInt8] {
        guard raw.count > 0, raw.count % 2 == 0 else {
            throw PKCS11UsageError("raw ECDSA signature has odd length \(raw.count)")
        }
        let half = raw.count / 2
        let r = stripLeadingZeros(raw[..<half])
        let s = stripLeadingZeros(raw[half...])
        guard !r.isEmpty, !s.isEmpty else { throw PKCS11UsageError("raw ECDSA signature has r or s zero") }
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(r)
            try coder.serialize(s)
        }
        return serializer.serializedBytes
    }

    private static func stripLeadingZeros(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        bytes.drop(while: { $0 == 0 })
    }

    private static func pad(_ magnitude: ArraySlice<UInt8>, to n: Int) throws -> [UInt8] {
        // swift-asn1 has already removed the sign byte and refused negatives.
        let value = stripLeadingZeros(magnitude)
        guard !value.isEmpty else { throw PKCS11UsageError("ECDSA signature has r or s zero") }
        guard value.count <= n else { throw PKCS11UsageError("ECDSA signature value is longer than the curve order") }
        return [UInt8](repeating: 0, count: n - value.count) + value
    }
}
