import Foundation
import KMSCore
import KMSServer
import PKCS11
import SoftHSMTestSupport

/// Dev mode (DESIGN.md §8): everything lives in one state directory.
enum DevSetup {
    static func configuration(stateDirectory: String, keyStorage: String?) throws -> DaemonConfiguration {
        let dev = try DevToken.prepare(stateDirectory: stateDirectory)
        let dir = dev.stateDirectory
        var server = ServerConfiguration(socketPath: dir + "/p11kms.sock")
        server.stateDirectory = dir
        var config = DaemonConfiguration(module: dev.module.path, token: .label(DevToken.label),
                                         pin: .file(dev.userPINFile), stateDirectory: dir, server: server)
        config.keyStorage = keyStorage.flatMap(KeyStorageMode.init(rawValue:)) ?? .wrapped
        config.poolSize = 4
        // In dev mode the developer (and root) administer everything.
        config.access = AccessControl(admins: PrincipalSet(uids: [0, getuid()]))
        return config
    }
}
