@testable import KMSServer
import Testing

@Suite("[kubernetes]: the Kubernetes KMS plugin's socket")
struct KubernetesConfigTests {
    private let hsm = "[hsm]\ntoken_label = \"t\"\npin_file = \"/p\"\n"

    @Test func absentMeansNoPluginSocket() throws {
        #expect(try DaemonConfiguration.parse(hsm).kubernetes == nil)
    }

    @Test func anEmptyTableTakesTheDefaults() throws {
        let plugin = try DaemonConfiguration.parse(hsm + "[kubernetes]\n").kubernetes
        #expect(plugin == KubernetesPluginConfiguration(socketPath: "/run/p11kms/kubernetes.sock", keyName: "alias/kubernetes"))
    }

    @Test func everyKeyIsRead() throws {
        let plugin = try DaemonConfiguration.parse(hsm + """
            [kubernetes]
            socket = "/run/p11kms/k8s.sock"
            socket_group = "kube"
            key = "alias/etcd-kek"
            """).kubernetes
        #expect(plugin == KubernetesPluginConfiguration(socketPath: "/run/p11kms/k8s.sock", socketGroup: "kube", keyName: "alias/etcd-kek"))
    }

    @Test func theMainSocketAndUnknownKeysAreRefused() {
        #expect(throws: DaemonConfiguration.Invalid.self) {
            try DaemonConfiguration.parse(hsm + "[kubernetes]\nsocket = \"/run/p11kms/p11kms.sock\"\n")
        }
        #expect(throws: DaemonConfiguration.Invalid.self) {
            try DaemonConfiguration.parse(hsm + "[kubernetes]\nsokcet = \"/x\"\n")
        }
    }
}
