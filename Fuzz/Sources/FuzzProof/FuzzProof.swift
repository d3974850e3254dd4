import FuzzSupport
import Proofs

/// The proof parser and verifier on arbitrary bytes: every input is parsed; one that parses is
/// verified against its own claimed trusted hash (so verification runs as deep as the proof
/// allows) and against a wrong one, with and without a magic.
let target: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let bytes = Array(input(data, size))
    guard let proof = try? Proof.parse(bytes) else { return 0 }
    _ = try? ProofVerifier.verify(proof, trustedHeight: proof.trusted.height, trustedConsensusHash: proof.trusted.consensusHash, magic: Array("id".utf8))
    _ = try? ProofVerifier.verify(proof, trustedHeight: proof.trusted.height, trustedConsensusHash: proof.trusted.consensusHash, magic: nil)
    _ = try? ProofVerifier.verify(proof, trustedHeight: proof.trusted.height &+ 1, trustedConsensusHash: "00", magic: [])
    _ = try? proof.json()
    return 0
}

@_cdecl("FuzzProof_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 { runFuzzer(argc, argv, target) }
