/* tramp.c - step over CPython's perf trampolines while unwinding (see tramp.h). */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include "tramp.h"

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

/* Pages known to hold no trampoline (program and library code: nearly every return address
 * asked about is there), and pages known to hold trampolines (CPython packs them into arenas
 * it keeps until the interpreter ends). Shared and racy: a lost or torn entry only makes the
 * next check take the slow way (each slot is one aligned word). A page is only ever marked
 * plain after reading code at one of its return addresses that is no trampoline. */
#define PLAIN_SLOTS 1024
#define TRAMP_SLOTS 16
static uint64_t plain_pages[PLAIN_SLOTS]; /* page number + 1, 0 = empty */
static uint64_t tramp_pages[TRAMP_SLOTS];
static unsigned next_tramp;

static inline int known_tramp(uint64_t page)
{
	for (unsigned i = 0; i < TRAMP_SLOTS; i++)
		if (__atomic_load_n(&tramp_pages[i], __ATOMIC_RELAXED) == page + 1)
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
	if (ip < TRAMP_BACK)
		return 0;
	uint64_t start = ip - TRAMP_BACK, first = start >> 12, last = (start + TRAMP_LEN - 1) >> 12;
	uint64_t *plain = &plain_pages[(first ^ first >> 10) % PLAIN_SLOTS];
	if (__atomic_load_n(plain, __ATOMIC_RELAXED) == first + 1)
		return 0;
	unsigned char code[TRAMP_LEN];
	if (known_tramp(first) && known_tramp(last)) {
		memcpy(code, (const void *)start, TRAMP_LEN);
		return memcmp(code, tramp_code, TRAMP_LEN) == 0;
	}
	if (!safe_read(start, code, TRAMP_LEN) || memcmp(code, tramp_code, TRAMP_LEN) != 0) {
		__atomic_store_n(plain, first + 1, __ATOMIC_RELAXED);
		return 0;
	}
	for (uint64_t page = first; page <= last; page++)
		if (!known_tramp(page)) {
			unsigned i = __atomic_fetch_add(&next_tramp, 1, __ATOMIC_RELAXED) % TRAMP_SLOTS;
			__atomic_store_n(&tramp_pages[i], page + 1, __ATOMIC_RELAXED);
		}
	return 1;
}

/* Trampolines are possible in this process: one was found, or it has a perf map or a
 * jitdump (CPython writes them as it turns its trampolines on). Until then only the last
 * frame of a stack that ended early is looked at, and now and then whether the map is there:
 * a program that never makes trampolines pays one compare per stack. */
static int active;
static __thread unsigned probes __attribute__((tls_model("initial-exec")));

static size_t put_str(char *dst, size_t n, const char *s)
{
	while (*s)
		dst[n++] = *s++;
	return n;
}

/* Does /tmp/perf-PID.map or /tmp/jit-PID.dump exist? */
static int runtime_map(void)
{
	int saved = errno;
	char digits[16], path[48];
	unsigned pid = (unsigned)syscall(SYS_getpid), k = 0;
	do
		digits[k++] = (char)('0' + pid % 10);
	while ((pid /= 10) != 0);
	size_t n = put_str(path, 0, "/tmp/perf-");
	for (unsigned i = k; i > 0; i--)
		path[n++] = digits[i - 1];
	path[put_str(path, n, ".map")] = 0;
	int found = access(path, F_OK) == 0;
	if (!found) {
		n = put_str(path, 0, "/tmp/jit-");
		for (unsigned i = k; i > 0; i--)
			path[n++] = digits[i - 1];
		path[put_str(path, n, ".dump")] = 0;
		found = access(path, F_OK) == 0;
	}
	errno = saved;
	return found;
}

int gp_tramp_in(const uint64_t *ips, int n, int ended_early)
{
	if (n <= 0)
		return 0;
	if (!__atomic_load_n(&active, __ATOMIC_RELAXED)) {
		if (ended_early && gp_tramp_is(ips[n - 1])) {
			__atomic_store_n(&active, 1, __ATOMIC_RELAXED);
			return 1;
		}
		/* the 1st, 2nd, 4th, 8th... 256th stack, then every 256th */
		unsigned k = probes++;
		if ((k < 256 ? k & (k + 1) : k % 256) != 0 || !runtime_map())
			return 0;
		__atomic_store_n(&active, 1, __ATOMIC_RELAXED);
	}
	for (int i = 0; i < n; i++)
		if (gp_tramp_is(ips[i]))
			return 1;
	return 0;
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
