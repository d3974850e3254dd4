import CCrypto

/// secp256k1 point decompression through libcrypto, for Core's compressed P2PK undo scripts.
public enum PublicKey {
    /// The 65-byte uncompressed key for x-coordinate `x` with the given y parity, or nil if `x` is
    /// not on the curve.
    public static func decompress(x: [UInt8], oddY: Bool) -> [UInt8]? {
        guard x.count == 32, let group = EC_GROUP_new_by_curve_name(NID_secp256k1) else { return nil }
        defer { EC_GROUP_free(group) }
        guard let point = EC_POINT_new(group) else { return nil }
        defer { EC_POINT_free(point) }
        let compressed = [oddY ? 0x03 : 0x02] + x
        guard EC_POINT_oct2point(group, point, compressed, compressed.count, nil) == 1 else { return nil }
        var out = [UInt8](repeating: 0, count: 65)
        let written = EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, &out, 65, nil)
        return written == 65 ? out : nil
    }

    /// Whether `key` (65 bytes, 0x04 prefix) is a point on secp256k1 (Core's `IsFullyValid`).
    public static func isValidUncompressed(_ key: [UInt8]) -> Bool {
        guard key.count == 65, key[0] == 0x04, let group = EC_GROUP_new_by_curve_name(NID_secp256k1) else { return false }
        defer { EC_GROUP_free(group) }
        guard let point = EC_POINT_new(group) else { return false }
        defer { EC_POINT_free(point) }
        return EC_POINT_oct2point(group, point, key, key.count, nil) == 1
    }
}
