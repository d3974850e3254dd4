#ifndef VC_SHA256_H
#define VC_SHA256_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the SHA extensions (and SSSE3, SSE4.1) the functions below need.
/// Call them only when it returns 1.
int vc_sha256_shani_supported(void);

/// One SHA-256 compression of the 64-byte block `block` into `state` (eight words, as FIPS 180-4
/// names them a..h).
void vc_sha256_shani_transform(uint32_t state[8], const uint8_t block[64]);

/// Two independent compressions, interleaved: a single SHA-256 stream waits on each round's
/// latency; two fill the gaps (Bitcoin Core hashes merkle nodes two at a time the same way).
void vc_sha256_shani_transform2(uint32_t state_a[8], const uint8_t block_a[64],
                                uint32_t state_b[8], const uint8_t block_b[64]);

/// A message given as up to three byte ranges hashed as if side by side (a transaction without
/// its witness is three ranges of its serialization). Unused parts have length 0.
typedef struct {
    const uint8_t *part[3];
    size_t length[3];
} vc_message;

/// Double SHA-256 of each of `count` messages into `digests` (32 bytes each, in message order):
/// two messages are compressed at once, each lane taking the next message as soon as its own is
/// done, so lanes stay paired however the lengths differ. Needs the SHA extensions.
void vc_sha256d_messages(const vc_message *messages, size_t count, uint8_t *digests);

#endif
