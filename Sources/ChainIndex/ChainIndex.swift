// Header tree, chain work and best-chain selection (filled in by the reader issue).
