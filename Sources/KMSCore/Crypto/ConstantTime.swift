/// Compares without an early exit, so timing does not reveal how many
/// leading bytes of a guessed MAC, token or signature were right. (Lengths
/// are public: every caller compares fixed-size values.)
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for i in a.indices { difference |= a[i] ^ b[i] }
    return difference == 0
}
