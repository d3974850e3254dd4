import BitcoinWire
import BlockFiles

extension ChainIndex {
    /// The height of the first available block (`record`, whose parent is absent): `given` after
    /// checking it against the block's BIP34 height where the block must carry one, or else that
    /// BIP34 height where it is trustworthy.
    ///
    /// Before BIP34 a coinbase's first push was arbitrary (an extra nonce, a time), so a number read
    /// there is a height only if it is at least the network's BIP34 height and the header has the
    /// version Core requires at that height ("bad-version"); anything else asks for the height.
    static func firstBlockHeight(of record: BlockEntry, directory: BlocksDirectory, given: Int?) throws(ChainIndexError) -> Int {
        let path = directory.blockFilePath(record.location.file)
        let parameters = directory.network.consensus
        if let given, !(0...Self.maxBaseHeight).contains(given) {
            throw .baseHeightOutOfRange(path: path, offset: record.location.offset, given: given)
        }
        let payload = record.location.payloadOffset
        let buffer: [UInt8]
        do { buffer = try directory.blockBytes(at: record.location) } catch { throw .file(error) }
        let parsed = buffer.withUnsafeBytes { raw -> Result<(height: Int?, startsWithGiven: Bool, version: Int32), WireError> in
            do throws(WireError) {
                let view = try BlockView.parse(raw)
                return .success((view.coinbaseHeight, given.map { view.coinbaseStartsWithHeight($0) } ?? false, view.header.version))
            } catch {
                return .failure(error)
            }
        }
        let found: (height: Int?, startsWithGiven: Bool, version: Int32)
        switch parsed {
        case let .success(value): found = value
        case let .failure(error):
            throw .firstBlockUnparsable(path: path, offset: payload + error.offset, block: record.hash, error: error)
        }
        if let given {
            if given >= parameters.bip34Height && !found.startsWithGiven {
                throw .baseHeightDisagrees(path: path, offset: record.location.offset, block: record.hash, carried: found.height,
                                           given: given, network: directory.network)
            }
            return given
        }
        if let height = found.height, height >= parameters.bip34Height, found.version >= parameters.rules(atHeight: height).minimumVersion {
            return height
        }
        throw .baseHeightNeeded(path: path, offset: record.location.offset, block: record.hash, network: directory.network, seenNumber: found.height)
    }
}
