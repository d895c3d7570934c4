import Crypto
import KMSAuditFormat

/// Lowercase hex of SHA-256. Not `String(format: "%02x")` per byte: that
/// goes through Foundation's formatter and was 8.8% of the daemon's CPU on
/// Kubernetes Decrypt (KeyMaterialId, computed on every Encrypt and Decrypt, #13).
func SHA256Hex(_ bytes: [UInt8]) -> String {
    AuditLine.hex(Array(SHA256.hash(data: bytes)))
}

func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }
