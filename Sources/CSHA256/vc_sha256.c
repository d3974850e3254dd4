// SHA-256 compression with the x86 SHA extensions, one stream or two interleaved.
//
// The round structure is Intel's (the SHA extensions' reference): the state held as ABEF/CDGH,
// four rounds per step (two sha256rnds2), the message schedule four words at a time with
// sha256msg1/sha256msg2. Two streams are two independent chains of the same steps in one
// function, which the CPU overlaps.
#include "vc_sha256.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

int vc_sha256_shani_supported(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int sha = (ebx >> 29) & 1;
    return ssse3 && sse41 && sha;
}

#define VC_TARGET __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// One stream's registers.
typedef struct {
    __m128i s0, s1;          // ABEF, CDGH
    __m128i save0, save1;
    __m128i m[4];            // the message schedule, four words each
} lane;

VC_TARGET static inline void load_state(lane *l, const uint32_t state[8]) {
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);   // DCBA
    __m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]);    // HGFE
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                          // CDAB
    s1 = _mm_shuffle_epi32(s1, 0x1B);                            // EFGH
    l->s0 = _mm_alignr_epi8(tmp, s1, 8);                         // ABEF
    l->s1 = _mm_blend_epi16(s1, tmp, 0xF0);                      // CDGH
    l->save0 = l->s0;
    l->save1 = l->s1;
}

VC_TARGET static inline void store_state(lane *l, uint32_t state[8]) {
    __m128i s0 = _mm_add_epi32(l->s0, l->save0);
    __m128i s1 = _mm_add_epi32(l->s1, l->save1);
    __m128i tmp = _mm_shuffle_epi32(s0, 0x1B);                   // FEBA
    s1 = _mm_shuffle_epi32(s1, 0xB1);                            // DCHG
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);                         // DCBA
    s1 = _mm_alignr_epi8(s1, tmp, 8);                            // ABEF -> HGFE
    _mm_storeu_si128((__m128i *)&state[0], s0);
    _mm_storeu_si128((__m128i *)&state[4], s1);
}

VC_TARGET static inline void load_message(lane *l, const uint8_t block[64]) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    for (int i = 0; i < 4; i++) l->m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 16 * i)), mask);
}

// Rounds 4q..4q+3: the schedule words m[q % 4] (already complete), plus the schedule work that
// belongs to this step (Intel's pattern: complete m[(q+1) % 4] with msg2, start m[(q+3) % 4]
// with msg1), where the rounds need them.
VC_TARGET static inline void quad(lane *l, int q) {
    __m128i *m = l->m;
    __m128i cur = m[q & 3];
    __m128i msg = _mm_add_epi32(cur, _mm_loadu_si128((const __m128i *)&K[4 * q]));
    l->s1 = _mm_sha256rnds2_epu32(l->s1, l->s0, msg);
    if (q >= 3 && q <= 14) {
        __m128i tmp = _mm_alignr_epi8(cur, m[(q + 3) & 3], 4);
        m[(q + 1) & 3] = _mm_add_epi32(m[(q + 1) & 3], tmp);
        m[(q + 1) & 3] = _mm_sha256msg2_epu32(m[(q + 1) & 3], cur);
    }
    msg = _mm_shuffle_epi32(msg, 0x0E);
    l->s0 = _mm_sha256rnds2_epu32(l->s0, l->s1, msg);
    if (q >= 1 && q <= 12) {
        m[(q + 3) & 3] = _mm_sha256msg1_epu32(m[(q + 3) & 3], cur);
    }
}

VC_TARGET void vc_sha256_shani_transform(uint32_t state[8], const uint8_t block[64]) {
    lane a;
    load_state(&a, state);
    load_message(&a, block);
#pragma clang loop unroll(full)
    for (int q = 0; q < 16; q++) quad(&a, q);
    store_state(&a, state);
}

VC_TARGET void vc_sha256_shani_transform2(uint32_t state_a[8], const uint8_t block_a[64],
                                          uint32_t state_b[8], const uint8_t block_b[64]) {
    lane a, b;
    load_state(&a, state_a);
    load_state(&b, state_b);
    load_message(&a, block_a);
    load_message(&b, block_b);
#pragma clang loop unroll(full)
    for (int q = 0; q < 16; q++) {
        quad(&a, q);
        quad(&b, q);
    }
    store_state(&a, state_a);
    store_state(&b, state_b);
}

// ---- Many messages, two lanes -------------------------------------------------------------

static const uint32_t initial_state[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

// One lane's message in progress: its place in the parts, the padded end, the second round.
typedef struct {
    const vc_message *message;
    uint8_t *digest;
    int part;
    size_t offset;           // within `part`
    size_t remaining;        // message bytes not yet fed
    uint64_t bit_length;
    int stage;               // STAGE_*
    int tail_blocks, tail_next;
    uint32_t state[8];
    uint8_t gathered[64];    // a block that straddles parts
    uint8_t tail[128];       // the padded end: one block, or two where the length does not fit
} job;

enum { STAGE_DATA, STAGE_TAIL, STAGE_SECOND, STAGE_DONE };

// Steps past parts this lane has used up (or that are empty); only while bytes remain.
static void skip_used_parts(job *j) {
    while (j->offset == j->message->length[j->part]) { j->part++; j->offset = 0; }
}

static void copy_out(job *j, uint8_t *out, size_t count) {
    while (count > 0) {
        skip_used_parts(j);
        size_t available = j->message->length[j->part] - j->offset;
        size_t n = available < count ? available : count;
        memcpy(out, j->message->part[j->part] + j->offset, n);
        out += n; count -= n; j->offset += n; j->remaining -= n;
    }
}

static void start(job *j, const vc_message *message, uint8_t *digest) {
    j->message = message;
    j->digest = digest;
    j->part = 0;
    j->offset = 0;
    j->remaining = message->length[0] + message->length[1] + message->length[2];
    j->bit_length = (uint64_t)j->remaining * 8;
    j->stage = STAGE_DATA;
    memcpy(j->state, initial_state, sizeof initial_state);
}

static void store_be32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

// The next block this lane compresses, or NULL once its message's double hash is in `digest`.
static const uint8_t *next_block(job *j) {
    if (j->stage == STAGE_DATA) {
        if (j->remaining >= 64) {
            skip_used_parts(j);
            if (j->message->length[j->part] - j->offset >= 64) {   // straight from the message
                const uint8_t *block = j->message->part[j->part] + j->offset;
                j->offset += 64;
                j->remaining -= 64;
                return block;
            }
            copy_out(j, j->gathered, 64);
            return j->gathered;
        }
        size_t rest = j->remaining;
        copy_out(j, j->tail, rest);
        j->tail_blocks = rest <= 55 ? 1 : 2;
        size_t end = 64 * (size_t)j->tail_blocks;
        j->tail[rest] = 0x80;
        memset(j->tail + rest + 1, 0, end - 8 - rest - 1);
        for (int i = 0; i < 8; i++) j->tail[end - 1 - i] = (uint8_t)(j->bit_length >> (8 * i));
        j->tail_next = 0;
        j->stage = STAGE_TAIL;
    }
    if (j->stage == STAGE_TAIL) {
        if (j->tail_next < j->tail_blocks) return j->tail + 64 * j->tail_next++;
        // The first digest, padded, is the second round's only block.
        for (int i = 0; i < 8; i++) store_be32(j->tail + 4 * i, j->state[i]);
        j->tail[32] = 0x80;
        memset(j->tail + 33, 0, 31);
        j->tail[62] = 0x01;                                           // length: 256 bits
        memcpy(j->state, initial_state, sizeof initial_state);
        j->stage = STAGE_SECOND;
        return j->tail;
    }
    if (j->stage == STAGE_SECOND) {
        for (int i = 0; i < 8; i++) store_be32(j->digest + 4 * i, j->state[i]);
        j->stage = STAGE_DONE;
    }
    return NULL;
}

// The next block for lane `j`, starting the next of the messages (from `*next`) whenever the
// lane's own is done; NULL once none is left.
static const uint8_t *next_block_or_message(job *j, const vc_message *messages, size_t count, size_t *next, uint8_t *digests) {
    const uint8_t *block = next_block(j);
    while (block == NULL && *next < count) {
        start(j, &messages[*next], digests + 32 * *next);
        (*next)++;
        block = next_block(j);
    }
    return block;
}

void vc_sha256d_messages(const vc_message *messages, size_t count, uint8_t *digests) {
    job lanes[2];
    const uint8_t *block[2];
    size_t next = 0;
    for (int l = 0; l < 2; l++) {
        lanes[l].stage = STAGE_DONE;  // no message yet: the first call starts one
        block[l] = next_block_or_message(&lanes[l], messages, count, &next, digests);
    }
    while (block[0] != NULL || block[1] != NULL) {
        if (block[0] != NULL && block[1] != NULL) {
            vc_sha256_shani_transform2(lanes[0].state, block[0], lanes[1].state, block[1]);
        } else {
            int l = block[0] != NULL ? 0 : 1;
            vc_sha256_shani_transform(lanes[l].state, block[l]);
        }
        for (int l = 0; l < 2; l++) {
            if (block[l] != NULL) block[l] = next_block_or_message(&lanes[l], messages, count, &next, digests);
        }
    }
}

#else
int vc_sha256_shani_supported(void) { return 0; }
void vc_sha256_shani_transform(uint32_t state[8], const uint8_t block[64]) { (void)state; (void)block; }
void vc_sha256_shani_transform2(uint32_t state_a[8], const uint8_t block_a[64], uint32_t state_b[8], const uint8_t block_b[64]) {
    (void)state_a; (void)block_a; (void)state_b; (void)block_b;
}
void vc_sha256d_messages(const vc_message *messages, size_t count, uint8_t *digests) {
    (void)messages; (void)count; (void)digests;
}
#endif
