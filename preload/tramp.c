/* tramp.c - step over CPython's perf trampolines while unwinding (see tramp.h). */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include "tramp.h"

#include "modules.h"

#include <errno.h>
#include <libunwind.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

/* From the return address: 6 bytes back is `sub $8,%rsp` (the copy may start with an endbr64
 * before it), then `call *%rcx`; after it `add $8,%rsp; ret`. */
#define TRAMP_BACK 6
#define TRAMP_LEN 11
static const unsigned char tramp_code[TRAMP_LEN] = {
	0x48, 0x83, 0xec, 0x08, /* sub $8,%rsp */
	0xff, 0xd1,             /* call *%rcx */
	0x48, 0x83, 0xc4, 0x08, /* add $8,%rsp */
	0xc3,                   /* ret */
};

/* Return addresses known to be no trampoline (the outermost frames of ordinary stacks:
 * _start, clone3), and pages known to hold trampolines (CPython packs them into arenas it
 * keeps until the interpreter ends). Shared and racy: a lost or torn entry only makes the
 * next check take the slow way (each slot is one aligned word). */
#define NOT_SLOTS 16
#define PAGE_SLOTS 16
static uint64_t not_tramp[NOT_SLOTS];
static uint64_t tramp_pages[PAGE_SLOTS];
static unsigned next_page;

static inline int known_page(uint64_t page)
{
	for (unsigned i = 0; i < PAGE_SLOTS; i++)
		if (__atomic_load_n(&tramp_pages[i], __ATOMIC_RELAXED) == page)
			return 1;
	return 0;
}

/* Read len bytes at addr, or fail (0) if any of them is not readable. process_vm_readv on
 * ourselves returns EFAULT where a plain read would fault. */
static int safe_read(uint64_t addr, void *out, size_t len)
{
	int saved = errno;
	struct iovec local = { out, len }, remote = { (void *)addr, len };
	long got = syscall(SYS_process_vm_readv, (long)syscall(SYS_getpid), &local, 1UL,
	                   &remote, 1UL, 0UL);
	errno = saved;
	return got == (long)len;
}

int gp_tramp_is(uint64_t ip)
{
	unsigned slot = (unsigned)(ip ^ ip >> 12) % NOT_SLOTS;
	if (__atomic_load_n(&not_tramp[slot], __ATOMIC_RELAXED) == ip || ip < TRAMP_BACK)
		return 0;
	uint64_t start = ip - TRAMP_BACK, end = start + TRAMP_LEN;
	unsigned char code[TRAMP_LEN];
	if (known_page(start & ~4095ull) && known_page((end - 1) & ~4095ull)) {
		memcpy(code, (const void *)start, TRAMP_LEN);
		return memcmp(code, tramp_code, TRAMP_LEN) == 0;
	}
	/* Code of a loaded object: no trampoline there (they live in anonymous memory). */
	if (gp_modules_contains(ip) || !safe_read(start, code, TRAMP_LEN) ||
	    memcmp(code, tramp_code, TRAMP_LEN) != 0) {
		__atomic_store_n(&not_tramp[slot], ip, __ATOMIC_RELAXED);
		return 0;
	}
	for (uint64_t page = start & ~4095ull; page <= ((end - 1) & ~4095ull); page += 4096)
		if (!known_page(page)) {
			unsigned i = __atomic_fetch_add(&next_page, 1, __ATOMIC_RELAXED) % PAGE_SLOTS;
			__atomic_store_n(&tramp_pages[i], page, __ATOMIC_RELAXED);
		}
	return 1;
}

/* The caller of the trampoline frame at `c` as a fresh context: return address at sp+8,
 * stack pointer sp+16, callee-saved registers as they are (the trampoline touches none).
 * @return 0, -1 if a register cannot be read. */
static int step_over(unw_cursor_t *c, ucontext_t *uc)
{
	static const struct { int unw, greg; } keep[] = {
		{ UNW_X86_64_RBX, REG_RBX }, { UNW_X86_64_RBP, REG_RBP },
		{ UNW_X86_64_R12, REG_R12 }, { UNW_X86_64_R13, REG_R13 },
		{ UNW_X86_64_R14, REG_R14 }, { UNW_X86_64_R15, REG_R15 },
	};
	unw_word_t sp, v;
	if (unw_get_reg(c, UNW_REG_SP, &sp) < 0)
		return -1;
	for (unsigned i = 0; i < sizeof keep / sizeof *keep; i++) {
		if (unw_get_reg(c, keep[i].unw, &v) < 0)
			return -1;
		uc->uc_mcontext.gregs[keep[i].greg] = (greg_t)v;
	}
	uint64_t ra;
	if (!safe_read(sp + 8, &ra, sizeof ra) || ra == 0)
		return -1;
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)ra;
	uc->uc_mcontext.gregs[REG_RSP] = (greg_t)(sp + 16);
	return 0;
}

int gp_tramp_backtrace(uint64_t *ips, int max)
{
	/* Two contexts: after a step over, the cursor reads its registers from the new one
	 * while they are copied out of the old one. */
	ucontext_t ctx[2];
	unsigned cur = 0;
	unw_cursor_t c;
	if (unw_getcontext(&ctx[0]) != 0 || unw_init_local(&c, &ctx[0]) != 0)
		return 0;
	int n = 0;
	while (n < max) {
		unw_word_t ip;
		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		ips[n++] = ip;
		if (gp_tramp_is(ip)) {
			ucontext_t *next = &ctx[cur ^ 1];
			memcpy(next, &ctx[cur], sizeof *next);
			if (step_over(&c, next) != 0 || unw_init_local(&c, next) != 0)
				break;
			cur ^= 1;
			continue;
		}
		if (unw_step(&c) <= 0)
			break;
	}
	return n;
}
