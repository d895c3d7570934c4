import Foundation
import KMSCore
import KMSModel
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

    /// The dev access key's principal name (`"Principal": {"AWS": ["dev"]}`).
    static let accessKeyName = "dev"

    /// `--tcp`: the TCP listener with one access key, made on first use and
    /// kept so a restart keeps it: its id in DIR/dev-access-key, its secret
    /// in DIR/dev-access-key.secret (both 0600; the secret file is read as
    /// production secret files are). The key is an admin, as the developer is.
    static func addTCPListener(_ config: inout DaemonConfiguration, listen: String) throws {
        let (idFile, secretFile) = accessKeyFiles(config)
        if !FileManager.default.fileExists(atPath: idFile) || !FileManager.default.fileExists(atPath: secretFile) {
            let (id, secret) = AccessKey.generateDevCredentials()
            try writePrivateFile(secretFile, secret + "\n")
            try writePrivateFile(idFile, id + "\n")
        }
        let id = try String(contentsOfFile: idFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let key = try AccessKey.load(id: id, name: accessKeyName, secretFile: secretFile)
        config.server.tcp = try TCPListenerConfiguration(
            listen: listen, tls: nil, verifier: SigV4Verifier(region: config.arn.region, keys: AccessKeyStore([key])))
        config.access.admins.accessKeys.insert(accessKeyName)
    }

    private static func accessKeyFiles(_ config: DaemonConfiguration) -> (id: String, secret: String) {
        (config.stateDirectory + "/dev-access-key", config.stateDirectory + "/dev-access-key.secret")
    }

    /// DIR/aws-config: a profile `p11kms` that points AWS SDKs and the aws
    /// CLI at the listener with the dev key, for
    /// `AWS_CONFIG_FILE=DIR/aws-config AWS_PROFILE=p11kms aws kms list-keys`.
    static func writeAWSConfig(_ config: DaemonConfiguration, endpoint: String) throws {
        let (idFile, secretFile) = accessKeyFiles(config)
        func read(_ path: String) throws -> String {
            try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try writePrivateFile(config.stateDirectory + "/aws-config", """
            # Written by p11kmsd --dev --tcp; rewritten at every start.
            [profile p11kms]
            region = \(config.arn.region)
            aws_access_key_id = \(try read(idFile))
            aws_secret_access_key = \(try read(secretFile))
            endpoint_url = \(endpoint)

            """)
    }

    /// Written whole to a temporary name, mode 0600 from the start, then renamed.
    private static func writePrivateFile(_ path: String, _ text: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw AccessKeyError("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw AccessKeyError("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
    }
}
