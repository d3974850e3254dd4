#ifndef VC_MAPPING_GUARD_H
#define VC_MAPPING_GUARD_H

#include <stddef.h>

/// Reading a file through a memory mapping raises SIGBUS where the file has shrunk under the
/// mapping (a blk file pruned or rewritten while an import reads it). These functions turn that
/// into something a reader can report: a SIGBUS at an address inside a registered range is
/// answered by mapping a page of zeros over the faulting page and flagging the range, so the
/// reading thread goes on (reading zeros) and asks `vc_guard_faulted` afterwards. A SIGBUS
/// anywhere else goes to the handler installed before, or ends the process as it would have.

/// Ranges guarded at once at most (mapped files open at once: a few per worker).
#define VC_GUARD_SLOTS 1024

/// Installs the SIGBUS handler (once; later calls do nothing). Returns 0, or -1 if it could not.
int vc_guard_install(void);

/// Guards `length` bytes from `base`; returns the range's slot, or -1 when every slot is taken
/// (the range is then read unguarded, as before).
int vc_guard_register(const void *base, size_t length);

/// Stops guarding a slot (before its range is unmapped).
void vc_guard_unregister(int slot);

/// 1 if a SIGBUS was absorbed in the slot's range since it was registered, else 0.
int vc_guard_faulted(int slot);

#endif
