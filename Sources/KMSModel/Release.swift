/// The release both executables report (`--version`) and scripts/package
/// names the Debian package after, so the two never disagree.
public enum P11KMSRelease {
    public static let version = "0.1.0"
}
