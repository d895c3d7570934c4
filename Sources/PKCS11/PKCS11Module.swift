import CPKCS11
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A loaded PKCS#11 module (`.so`). Load with `PKCS11Module.load(path:)`:
/// each path is opened and `C_Initialize`d once per process, as the
/// specification requires, and never finalised while the process runs
/// (sessions may be alive anywhere in it).
public final class PKCS11Module: @unchecked Sendable {
    // @unchecked: the only stored state is the dlopen handle and the function
    // list pointer, both written once in init and read-only afterwards; the
    // module itself is initialised with CKF_OS_LOCKING_OK, so calling into it
    // from several threads is what the specification allows.
    public let path: String
    let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>
    private let handle: UnsafeMutableRawPointer

    private static let loaded = Mutex<[String: PKCS11Module]>([:])

    /// Returns the process-wide module for `path`, loading and initialising it
    /// on first use. `CKR_CRYPTOKI_ALREADY_INITIALIZED` (another library in the
    /// process got there first) is accepted.
    public static func load(path: String) throws -> PKCS11Module {
        try loaded.withLock { modules in
            if let module = modules[path] { return module }
            let module = try PKCS11Module(path: path)
            modules[path] = module
            return module
        }
    }

    private init(path: String) throws {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
            throw PKCS11UsageError("cannot load PKCS#11 module \(path): \(reason)")
        }
        guard let symbol = dlsym(handle, "C_GetFunctionList") else {
            dlclose(handle)
            throw PKCS11UsageError("\(path) is not a PKCS#11 module: it has no C_GetFunctionList")
        }
        typealias GetFunctionList = @convention(c) (UnsafeMutablePointer<UnsafeMutablePointer<CK_FUNCTION_LIST>?>?) -> CK_RV
        let getFunctionList = unsafeBitCast(symbol, to: GetFunctionList.self)
        var list: UnsafeMutablePointer<CK_FUNCTION_LIST>?
        let rv = getFunctionList(&list)
        guard rv == CKR_OK, let list else {
            dlclose(handle)
            throw PKCS11Error(function: .getFunctionList, code: ReturnCode(rv))
        }
        var args = CK_C_INITIALIZE_ARGS()
        args.flags = CK_FLAGS(CKF_OS_LOCKING_OK)
        let initRV = list.pointee.C_Initialize(&args)
        guard initRV == CKR_OK || initRV == CKR_CRYPTOKI_ALREADY_INITIALIZED else {
            dlclose(handle)
            throw PKCS11Error(function: .initialize, code: ReturnCode(initRV))
        }
        self.path = path
        self.handle = handle
        self.functions = list
    }

    /// The C function table. Every entry a v2.40 module must export is present.
    var f: CK_FUNCTION_LIST { functions.pointee }

    /// `C_GetInfo`.
    public func info() throws -> ModuleInfo {
        var info = CK_INFO()
        try check(f.C_GetInfo(&info), .getInfo)
        return ModuleInfo(info)
    }

    /// Slots, by default only those with a token present.
    public func slots(withTokenOnly: Bool = true) throws -> [Slot] {
        var count: CK_ULONG = 0
        let present = CK_BBOOL(withTokenOnly ? CK_TRUE : CK_FALSE)
        // The slot list may grow between the two calls (SoftHSM2 adds a free
        // slot after C_InitToken), so retry on CKR_BUFFER_TOO_SMALL.
        for _ in 0..<4 {
            try check(f.C_GetSlotList(present, nil, &count), .getSlotList)
            var ids = [CK_SLOT_ID](repeating: 0, count: Int(count))
            let rv = f.C_GetSlotList(present, &ids, &count)
            if rv == CKR_BUFFER_TOO_SMALL { continue }
            try check(rv, .getSlotList)
            return ids.prefix(Int(count)).map { Slot(module: self, id: SlotID(rawValue: UInt($0))) }
        }
        throw PKCS11Error(function: .getSlotList, code: .bufferTooSmall)
    }

    /// The one token whose label matches. Zero or several matches is an error:
    /// picking "the first" would silently use the wrong HSM partition.
    public func token(label: String) throws -> Token {
        try uniqueToken(described: "label \"\(label)\"") { $0.label == label }
    }

    /// The one token with this serial number.
    public func token(serial: String) throws -> Token {
        try uniqueToken(described: "serial \"\(serial)\"") { $0.serialNumber == serial }
    }

    /// The token in the slot with this id.
    public func token(slotID: SlotID) throws -> Token {
        let slot = Slot(module: self, id: slotID)
        let info = try slot.tokenInfo()
        return Token(slot: slot, label: info.label, serialNumber: info.serialNumber)
    }

    private func uniqueToken(described: String, _ matches: (TokenInfo) -> Bool) throws -> Token {
        var found: [Token] = []
        for slot in try slots() {
            let info = try slot.tokenInfo()
            if info.isInitialized && matches(info) {
                found.append(Token(slot: slot, label: info.label, serialNumber: info.serialNumber))
            }
        }
        guard found.count == 1 else {
            throw PKCS11UsageError(found.isEmpty
                ? "no initialised token with \(described) in \(path)"
                : "\(found.count) tokens with \(described) in \(path); select by serial or slot id")
        }
        return found[0]
    }
}
