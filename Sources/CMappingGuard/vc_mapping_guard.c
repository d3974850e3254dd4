#define _GNU_SOURCE
#include "vc_mapping_guard.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// Everything the handler reads is a lock-free atomic: it may run on any thread, at any moment.
static _Atomic uintptr_t starts[VC_GUARD_SLOTS];
static _Atomic uintptr_t ends[VC_GUARD_SLOTS];
static _Atomic int faulted[VC_GUARD_SLOTS];
static _Atomic int claimed[VC_GUARD_SLOTS];
static _Atomic int installed;
static struct sigaction previous;
static uintptr_t page_mask;

static void handler(int sig, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < VC_GUARD_SLOTS; i++) {
        uintptr_t start = atomic_load(&starts[i]);
        if (start == 0 || address < start || address >= atomic_load(&ends[i])) continue;
        // mmap is a system call: safe in a signal handler. The faulting instruction is retried
        // and reads zeros.
        void *page = (void *)(address & page_mask);
        if (mmap(page, ~page_mask + 1, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
            atomic_store(&faulted[i], 1);
            return;
        }
        break;
    }
    // Not ours: as if we had never been here.
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, info, context);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler) {
        previous.sa_handler(sig);
    } else {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

int vc_guard_install(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&installed, &expected, 1)) return 0;
    page_mask = ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous) != 0) {
        atomic_store(&installed, 0);
        return -1;
    }
    return 0;
}

int vc_guard_register(const void *base, size_t length) {
    if (!base || length == 0) return -1;
    for (int i = 0; i < VC_GUARD_SLOTS; i++) {
        int free_slot = 0;
        if (!atomic_compare_exchange_strong(&claimed[i], &free_slot, 1)) continue;
        // The end first (while the start is 0 the handler skips the slot), then the start.
        atomic_store(&faulted[i], 0);
        atomic_store(&ends[i], (uintptr_t)base + length);
        atomic_store(&starts[i], (uintptr_t)base);
        return i;
    }
    return -1;
}

void vc_guard_unregister(int slot) {
    if (slot < 0 || slot >= VC_GUARD_SLOTS) return;
    atomic_store(&starts[slot], 0);
    atomic_store(&claimed[slot], 0);
}

int vc_guard_faulted(int slot) {
    if (slot < 0 || slot >= VC_GUARD_SLOTS) return 0;
    return atomic_load(&faulted[slot]);
}
