import CPKCS11
#if canImport(Glibc)
import Glibc
#endif

/// An open session on a token. A session must be used by one thread at a
/// time (PKCS#11 keeps one active operation per session); `SessionPool`
/// guarantees that by lending each session to one borrower. The value itself
/// is immutable and therefore `Sendable`.
public struct Session: Sendable, Hashable {
    public let module: PKCS11Module
    public let handle: SessionHandle

    /// Adopts a session handle opened elsewhere in this process (for
    /// diagnostics; sessions of ours come from `Token.openSession`).
    public init(module: PKCS11Module, handle: SessionHandle) {
        self.module = module
        self.handle = handle
    }

    public static func == (a: Session, b: Session) -> Bool { a.module === b.module && a.handle == b.handle }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(module)); h.combine(handle) }

    var h: CK_SESSION_HANDLE { CK_SESSION_HANDLE(handle.rawValue) }
    var f: CK_FUNCTION_LIST { module.f }

    /// The largest output any single operation of ours may return (a wrapped
    /// RSA-4096 private key is about 2.4 KiB; data is limited far below this).
    static let outputCap = 1 << 20

    public func close() throws {
        try check(f.C_CloseSession(h), .closeSession)
    }

    public struct State: Hashable, Sendable {
        public let rawValue: UInt
        public static let readOnlyPublic = State(rawValue: 0)
        public static let readOnlyUser = State(rawValue: 1)
        public static let readWritePublic = State(rawValue: 2)
        public static let readWriteUser = State(rawValue: 3)
        public static let readWriteSecurityOfficer = State(rawValue: 4)
        public var isLoggedIn: Bool { [.readOnlyUser, .readWriteUser, .readWriteSecurityOfficer].contains(self) }
    }

    public struct Info: Hashable, Sendable {
        public let slotID: SlotID
        public let state: State
        public let isReadWrite: Bool
    }

    /// `C_GetSessionInfo`.
    public func info() throws -> Info {
        var info = CK_SESSION_INFO()
        try check(f.C_GetSessionInfo(h, &info), .getSessionInfo)
        return Info(slotID: SlotID(rawValue: UInt(info.slotID)), state: State(rawValue: UInt(info.state)),
                    isReadWrite: info.flags & CK_FLAGS(CKF_RW_SESSION) != 0)
    }

    public func state() throws -> State { try info().state }

    // MARK: Login and PINs

    /// `C_Login`. Login state belongs to the application, not the session, so
    /// `CKR_USER_ALREADY_LOGGED_IN` counts as success.
    public func login(_ userType: UserType = .user, pin: PIN) throws {
        let rv = pin.withUnsafeBytes { p in
            f.C_Login(h, CK_USER_TYPE(userType.rawValue),
                      UnsafeMutablePointer(mutating: p.bindMemory(to: UInt8.self).baseAddress), CK_ULONG(p.count))
        }
        if rv == CKR_USER_ALREADY_LOGGED_IN { return }
        try check(rv, .login)
    }

    public func logout() throws {
        let rv = f.C_Logout(h)
        if rv == CKR_USER_NOT_LOGGED_IN { return }
        try check(rv, .logout)
    }

    /// `C_InitPIN`: sets the user PIN; the security officer must be logged in.
    public func initUserPIN(_ pin: PIN) throws {
        try pin.withUnsafeBytes { p in
            try check(f.C_InitPIN(h, UnsafeMutablePointer(mutating: p.bindMemory(to: UInt8.self).baseAddress),
                                  CK_ULONG(p.count)), .initPIN)
        }
    }

    /// `C_SetPIN`: changes the PIN of whoever is logged in on this session.
    public func changePIN(old: PIN, new: PIN) throws {
        try old.withUnsafeBytes { o in
            try new.withUnsafeBytes { n in
                try check(f.C_SetPIN(h,
                                     UnsafeMutablePointer(mutating: o.bindMemory(to: UInt8.self).baseAddress), CK_ULONG(o.count),
                                     UnsafeMutablePointer(mutating: n.bindMemory(to: UInt8.self).baseAddress), CK_ULONG(n.count)),
                          .setPIN)
            }
        }
    }

    // MARK: Objects

    public func createObject(_ template: [Attribute]) throws -> ObjectHandle {
        var object: CK_OBJECT_HANDLE = 0
        try withCTemplate(template) { t, n in try check(f.C_CreateObject(h, t, n, &object), .createObject) }
        return ObjectHandle(rawValue: UInt(object))
    }

    /// `C_CopyObject`, with attributes to change on the copy.
    public func copyObject(_ object: ObjectHandle, changing template: [Attribute] = []) throws -> ObjectHandle {
        var copy: CK_OBJECT_HANDLE = 0
        try withCTemplate(template) { t, n in
            try check(f.C_CopyObject(h, CK_OBJECT_HANDLE(object.rawValue), t, n, &copy), .copyObject)
        }
        return ObjectHandle(rawValue: UInt(copy))
    }

    public func destroyObject(_ object: ObjectHandle) throws {
        try check(f.C_DestroyObject(h, CK_OBJECT_HANDLE(object.rawValue)), .destroyObject)
    }

    /// `C_FindObjects*`: every object matching the template, at most `limit`.
    /// Linear in the token's object count on SoftHSM2: keep it off request paths.
    public func findObjects(_ template: [Attribute], limit: Int = .max) throws -> [ObjectHandle] {
        try withCTemplate(template) { t, n in try check(f.C_FindObjectsInit(h, t, n), .findObjectsInit) }
        // Always finish the search, or the session stays stuck in it.
        defer { _ = f.C_FindObjectsFinal(h) }
        var found: [ObjectHandle] = []
        var batch = [CK_OBJECT_HANDLE](repeating: 0, count: 64)
        while found.count < limit {
            var count: CK_ULONG = 0
            let want = CK_ULONG(min(batch.count, limit - found.count))
            try check(f.C_FindObjects(h, &batch, want, &count), .findObjects)
            if count == 0 { break }
            found += batch.prefix(Int(count)).map { ObjectHandle(rawValue: UInt($0)) }
        }
        return found
    }

    /// Reads attributes of an object. A sensitive or unknown attribute is an
    /// error naming the code (`CKR_ATTRIBUTE_SENSITIVE`), never an empty value.
    public func attributes(_ types: [AttributeType], of object: ObjectHandle) throws -> [Attribute] {
        var template = types.map { CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE($0.rawValue), pValue: nil, ulValueLen: 0) }
        try check(f.C_GetAttributeValue(h, CK_OBJECT_HANDLE(object.rawValue), &template, CK_ULONG(template.count)),
                  .getAttributeValue)
        var lengths: [Int] = []
        for entry in template {
            guard entry.ulValueLen != unavailableInformation, Int(entry.ulValueLen) <= Self.outputCap else {
                throw PKCS11UsageError("token reported an impossible length for an attribute")
            }
            lengths.append(Int(entry.ulValueLen))
        }
        // One buffer for all values, wiped afterwards: values may be key bytes
        // of a non-sensitive object.
        let total = lengths.reduce(0, +)
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 8)
        defer {
            explicit_bzero(storage.baseAddress!, storage.count)
            storage.deallocate()
        }
        var offsets: [Int] = []
        var offset = 0
        for i in template.indices {
            offsets.append(offset)
            template[i].pValue = lengths[i] == 0 ? nil : storage.baseAddress! + offset
            template[i].ulValueLen = CK_ULONG(lengths[i])
            offset += lengths[i]
        }
        try check(f.C_GetAttributeValue(h, CK_OBJECT_HANDLE(object.rawValue), &template, CK_ULONG(template.count)),
                  .getAttributeValue)
        return types.indices.map { i in
            let n = min(Int(template[i].ulValueLen), lengths[i])
            return Attribute(types[i], bytes: Array(storage[offsets[i]..<offsets[i] + n]))
        }
    }

    public func attribute(_ type: AttributeType, of object: ObjectHandle) throws -> Attribute {
        try attributes([type], of: object)[0]
    }

    public func boolAttribute(_ type: AttributeType, of object: ObjectHandle) throws -> Bool {
        guard let v = try attribute(type, of: object).boolValue else {
            throw PKCS11UsageError("\(type) of \(object) is not a CK_BBOOL")
        }
        return v
    }

    public func ulongAttribute(_ type: AttributeType, of object: ObjectHandle) throws -> UInt {
        guard let v = try attribute(type, of: object).ulongValue else {
            throw PKCS11UsageError("\(type) of \(object) is not a CK_ULONG")
        }
        return v
    }

    public func setAttributes(_ template: [Attribute], of object: ObjectHandle) throws {
        try withCTemplate(template) { t, n in
            try check(f.C_SetAttributeValue(h, CK_OBJECT_HANDLE(object.rawValue), t, n), .setAttributeValue)
        }
    }
}

