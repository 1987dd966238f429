/* pt-dlreuse LIBA LIBB: dlopen LIBA, call its dlr_entry (site dlr_grow_a), dlclose it;
 * dlopen LIBB (built from the same source, so likely mapped where LIBA was), call it (site
 * dlr_grow_b), dlclose it; then LIBA once more (site dlr_grow_a again), dlclose.
 * Nothing is mapped any more at exit: the viewer must symbolize each step with the module
 * that was mapped at its address when it happened.
 * Notes: base_a, base_b, base_a2 (load addresses from dladdr), same_base (1 if LIBB was
 * loaded where LIBA had been), site_a, site_b, site_a2 (where each library's site function
 * was, from its dlr_site: equal when the reuse happened). Truth tag main.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <dlfcn.h>

typedef uint64_t (*entry_fn)(gp_truth *, unsigned, uint64_t *);

static gp_truth T;

static uint64_t run_lib(const char *path, unsigned seed, const char *note, const char *site_note)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "pt-dlreuse: %s\n", dlerror());
        exit(2);
    }
    entry_fn e = (entry_fn)(uintptr_t)dlsym(h, "dlr_entry");
    if (!e) {
        fprintf(stderr, "pt-dlreuse: %s\n", dlerror());
        exit(2);
    }
    uintptr_t (*site)(void) = (uintptr_t (*)(void))(uintptr_t)dlsym(h, "dlr_site");
    if (!site) {
        fprintf(stderr, "pt-dlreuse: %s\n", dlerror());
        exit(2);
    }
    pt_note(site_note, (long long)site());
    Dl_info info;
    if (dladdr((void *)(uintptr_t)e, &info))
        pt_note(note, (long long)(uintptr_t)info.dli_fbase);
    uint64_t steps = 0;
    uint64_t r = e(&T, seed, &steps);
    if (dlclose(h) != 0) {
        fprintf(stderr, "pt-dlreuse: dlclose: %s\n", dlerror());
        exit(2);
    }
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pt-dlreuse LIBA LIBB\n");
        return 2;
    }
    gp_init(&T);
    gp_declare(&T, "dlr_grow_a");
    gp_declare(&T, "dlr_grow_b");
    uint64_t h = run_lib(argv[1], 1, "base_a", "site_a");
    h ^= run_lib(argv[2], 2, "base_b", "site_b");
    h ^= run_lib(argv[1], 3, "base_a2", "site_a2");
    long long a = 0, b = 0;
    for (int i = 0; i < pt_notes.n; i++) {
        if (strcmp(pt_notes.key[i], "base_a") == 0)
            a = pt_notes.val[i];
        if (strcmp(pt_notes.key[i], "base_b") == 0)
            b = pt_notes.val[i];
    }
    pt_note("same_base", a != 0 && a == b);
    pt_write(&T, "dlreuse", "main");
    printf("dlreuse: %016llx\n", (unsigned long long)h);
    return 0;
}
