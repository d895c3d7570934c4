import Foundation
import KMSModel
import PKCS11

public struct KMSConfiguration: Sendable {
    public var arn: ARNFormat
    /// How new key versions are stored (DESIGN.md §3).
    public var keyStorage: KeyStorageMode
    /// Unwrapped keys kept as session objects in `wrapped` mode.
    public var cacheCapacity: Int
    /// Encryptions one version may make with random 96-bit IVs before the
    /// key is rotated: NIST SP 800-38D allows 2^32.
    public var encryptionBudget: UInt64
    /// Encryptions reserved in the store at a time, so the counter costs one
    /// write per lease rather than per request.
    public var encryptionLease: UInt64
    /// How long GetParametersForImport's wrapping key and import token live.
    public var importParametersLifetime: TimeInterval
    /// The shortest `RotationPeriodInDays` EnableKeyRotation accepts: AWS's
    /// 90 unless an operator lowers it (`[rotation] min_period_days`, down
    /// to 1) for clients whose rules demand monthly or quarterly rotation.
    public var minimumRotationPeriodDays = KMSConfiguration.awsMinimumRotationPeriodDays
    public static let awsMinimumRotationPeriodDays = 90
    public static let maximumRotationPeriodDays = 2560

    /// Who administers and who may create keys (key operations follow key policies).
    public var accessControl: AccessControl = AccessControl()
    /// Longest wait for another change of the same key to finish (a
    /// rotation holds its key while the HSM makes the new version).
    public var changeTimeout: Duration = .seconds(30)
    /// Lets wrapped storage start on a token that does not enforce the domain
    /// key's unwrap template (key material extractable by a PIN holder).
    /// Off by default; the operator opts in by name, and /health says so.
    public var allowUnenforcedUnwrapTemplate = false
    /// Where the domain key does not enforce its unwrap template and the
    /// token cannot add it (SoftHSM): re-wrap every version of a key made
    /// before per-key KEKs under a KEK of its own, then replace the domain
    /// key with one that has the template. `p11kmsd --replace-domain-key`.
    public var replaceUnenforcedDomainKey = false
    /// False only to make keys as before per-key KEKs existed (the tests of
    /// that migration); never in service.
    public var makeKEKs = true
    /// The extra tokens custom key stores may name as `CloudHsmClusterId`.
    public var customKeyStoreTokens = CustomKeyStoreTokens()
    /// Lets an operator correct what probing learnt (e.g. force the GCM IV
    /// policy of a token that misreports it), and tests narrow a profile.
    public var adjustProfile: (@Sendable (TokenProfile) -> TokenProfile)?

    public init(arn: ARNFormat = ARNFormat(), keyStorage: KeyStorageMode = .wrapped, cacheCapacity: Int = 1000,
                encryptionBudget: UInt64 = 1 << 32, encryptionLease: UInt64 = 1024,
                importParametersLifetime: TimeInterval = 24 * 3600) {
        self.arn = arn
        self.keyStorage = keyStorage
        self.cacheCapacity = cacheCapacity
        self.encryptionBudget = encryptionBudget
        self.encryptionLease = encryptionLease
        self.importParametersLifetime = importParametersLifetime
    }
}

/// Test hooks that inject failures where a crash would leave work half done.
public struct FaultInjection: Sendable {
    /// Called after the HSM created material and before its metadata commit.
    public var beforeMetadataCommit: (@Sendable (KMSOperation) throws -> Void)?
    /// When set, a failure thrown by the hook skips the clean-up that follows
    /// a failed commit, as if the process had died there.
    public var simulateCrash: Bool
    public init(beforeMetadataCommit: (@Sendable (KMSOperation) throws -> Void)? = nil, simulateCrash: Bool = false) {
        self.beforeMetadataCommit = beforeMetadataCommit
        self.simulateCrash = simulateCrash
    }

    /// Runs the hook; a failure it throws is marked as a crash when asked.
    func commitPoint(_ operation: KMSOperation) throws {
        do {
            try beforeMetadataCommit?(operation)
        } catch {
            throw simulateCrash ? SimulatedCrash(underlying: error) : error
        }
    }
}

/// A failure injected as a process death: no clean-up runs after it.
public struct SimulatedCrash: Error {
    public let underlying: any Error
}
