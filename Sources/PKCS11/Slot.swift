import CPKCS11

/// A slot of a module: where a token sits.
public struct Slot: Sendable, Hashable {
    public let module: PKCS11Module
    public let id: SlotID

    public static func == (a: Slot, b: Slot) -> Bool { a.module === b.module && a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(module)); h.combine(id) }

    private var cID: CK_SLOT_ID { CK_SLOT_ID(id.rawValue) }

    public func info() throws -> SlotInfo {
        var info = CK_SLOT_INFO()
        try check(module.f.C_GetSlotInfo(cID, &info), .getSlotInfo)
        return SlotInfo(info)
    }

    public func tokenInfo() throws -> TokenInfo {
        var info = CK_TOKEN_INFO()
        try check(module.f.C_GetTokenInfo(cID, &info), .getTokenInfo)
        return TokenInfo(info)
    }

    public func mechanisms() throws -> [MechanismType] {
        var count: CK_ULONG = 0
        try check(module.f.C_GetMechanismList(cID, nil, &count), .getMechanismList)
        var list = [CK_MECHANISM_TYPE](repeating: 0, count: Int(count))
        try check(module.f.C_GetMechanismList(cID, &list, &count), .getMechanismList)
        return list.prefix(Int(count)).map { MechanismType(rawValue: UInt($0)) }
    }

    public func mechanismInfo(_ type: MechanismType) throws -> MechanismInfo {
        var info = CK_MECHANISM_INFO()
        try check(module.f.C_GetMechanismInfo(cID, CK_MECHANISM_TYPE(type.rawValue), &info), .getMechanismInfo)
        return MechanismInfo(info)
    }

    /// `C_InitToken`: (re)initialises the token in this slot with a security
    /// officer PIN and a label (at most 32 bytes). Destroys every object on it.
    @discardableResult
    public func initToken(soPIN: PIN, label: String) throws -> Token {
        let utf8 = Array(label.utf8)
        guard utf8.count <= 32 else { throw PKCS11UsageError("token label is longer than 32 bytes") }
        var padded = [UInt8](repeating: 0x20, count: 32)
        padded.replaceSubrange(0..<utf8.count, with: utf8)
        try soPIN.withUnsafeBytes { pin in
            let p = UnsafeMutablePointer(mutating: pin.bindMemory(to: UInt8.self).baseAddress)
            try check(module.f.C_InitToken(cID, p, CK_ULONG(pin.count), &padded), .initToken)
        }
        // Some tokens (SoftHSM2) move an initialised token to a slot id derived
        // from its serial; find it again by label when that is unambiguous.
        if let moved = try? module.token(label: label) { return moved }
        let info = try tokenInfo()
        return Token(slot: self, label: info.label, serialNumber: info.serialNumber)
    }
}

/// A token, found by label, serial or slot id (see `PKCS11Module.token(...)`).
public struct Token: Sendable, Hashable {
    public let slot: Slot
    public let label: String
    public let serialNumber: String

    public var module: PKCS11Module { slot.module }

    public func info() throws -> TokenInfo { try slot.tokenInfo() }

    /// Opens a session (read-write by default, as key generation needs).
    public func openSession(readWrite: Bool = true) throws -> Session {
        var flags = CK_FLAGS(CKF_SERIAL_SESSION)
        if readWrite { flags |= CK_FLAGS(CKF_RW_SESSION) }
        var handle: CK_SESSION_HANDLE = 0
        try check(module.f.C_OpenSession(CK_SLOT_ID(slot.id.rawValue), flags, nil, nil, &handle), .openSession)
        return Session(module: module, handle: SessionHandle(rawValue: UInt(handle)))
    }
}

extension Slot {
    /// `C_CloseAllSessions`: closes every session this process has on the
    /// slot, which also logs the application out. Pools recover from it.
    public func closeAllSessions() throws {
        try check(module.f.C_CloseAllSessions(CK_SLOT_ID(id.rawValue)), .closeAllSessions)
    }
}
