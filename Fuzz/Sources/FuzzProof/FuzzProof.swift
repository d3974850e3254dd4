import FuzzSupport
import Proofs

/// The proof parser and verifier on arbitrary bytes: every input is parsed; one that parses is
/// verified against its own claimed trusted hash (so verification runs as deep as the proof
/// allows) and against a wrong one, with and without a magic.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = Array(input(data, size))
    guard let proof = try? Proof.parse(bytes) else { return 0 }
    let names = ProofExpectations(machine: "names", machineVersion: 1, network: "regtest", firstBlock: 1, magic: Array("id".utf8),
                                  recordFields: RecordPositionFields(height: 4, vtxindex: 5), bip34Height: 1, requireHeight: true)
    _ = try? ProofVerifier.verify(proof, trustedHeight: proof.trusted.height, trustedConsensusHash: proof.trusted.consensusHash, expecting: names)
    _ = try? ProofVerifier.verify(proof, trustedHeight: proof.trusted.height, trustedConsensusHash: proof.trusted.consensusHash, expecting: ProofExpectations())
    _ = try? ProofVerifier.verify(proof, trustedHeight: proof.trusted.height &+ 1, trustedConsensusHash: "00", expecting: ProofExpectations(magic: []))
    _ = ProofVerifier.recordFields(String(decoding: Array(UnsafeRawBufferPointer(start: data, count: size)), as: UTF8.self))
    _ = try? proof.json()
    return 0
}

@_cdecl("FuzzProof_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
