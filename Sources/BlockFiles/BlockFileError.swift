/// A blk or rev file that cannot be read as Bitcoin Core writes it: names the file and, where
/// known, the offset.
public struct BlockFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var offset: Int?
    public var message: String

    public init(path: String, offset: Int? = nil, _ message: String) {
        self.path = path
        self.offset = offset
        self.message = message
    }

    public var description: String {
        if let offset { return "\(path) at offset \(offset): \(message)" }
        return "\(path): \(message)"
    }
}
