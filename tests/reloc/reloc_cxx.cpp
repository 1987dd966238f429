// reloc_cxx: std::vector and std::string growth (operator new + copy + operator delete,
// never realloc). Each grows in its own never-inlined function, which must be the site:
//   fill_vector()   std::vector<int>, push_back of 2^20 elements: capacities 1, 2, 4 ...
//                   2^20 -> 20 moves; those from a block of at least RT_RELOC_MIN (64)
//                   bytes are relocations: 16, 4 * (2^20 - 16) = 4,194,240 bytes copied,
//                   one chain, geometric
//   build_string()  std::string, += of a 7-byte piece 20,000 times: relocations when the
//                   capacity changes while the string already lives on the heap (the first
//                   move, out of the small-string buffer inside the object, copies from no
//                   block) in a block of at least RT_RELOC_MIN bytes; bytes copied = size()
//                   before each such append
// The program computes its truth from capacity() before and after each call and prints it
// (reloc_truth.h).
#include "reloc_truth.h"

#include <string>
#include <vector>

static unsigned long checksum;

RT_SITE void fill_vector()
{
	std::vector<int> v;
	struct rt_entry *s = rt_site("fill_vector()", "relocation");
	int first = 1;
	for (int i = 0; i < (1 << 20); i++) {
		size_t cap = v.capacity(), size = v.size();
		v.push_back(i);
		if (v.capacity() != cap && cap > 0) {
			if (rt_reloc_step("fill_vector()", cap * sizeof(int), v.capacity() * sizeof(int),
			                  size * sizeof(int), first))
				first = 0;
		}
	}
	s->pattern = "geometric";
	checksum += (unsigned long)v[12345] + v.size();
}

RT_SITE void build_string()
{
	std::string str;
	const size_t sso = str.capacity(); // the small-string buffer: not a heap block
	struct rt_entry *s = rt_site("build_string()", "relocation");
	int first = 1;
	for (int i = 0; i < 20000; i++) {
		size_t cap = str.capacity(), size = str.size();
		str += "abcdefg";
		if (str.capacity() != cap && cap > sso) {
			// the heap block holds capacity() + 1 bytes (the terminator)
			if (rt_reloc_step("build_string()", cap + 1, str.capacity() + 1, size, first))
				first = 0;
		}
	}
	s->pattern = "geometric";
	checksum += str.size() + (unsigned char)str[1000];
}

int main()
{
	rt_truth.program = "reloc_cxx";
	rt_truth.only_listed = 1;
	fill_vector();
	build_string();
	struct rt_entry *t = rt_reloc_totals();
	uint64_t v = rt_site("fill_vector()", "relocation")->val[0]; // steps
	uint64_t s = rt_site("build_string()", "relocation")->val[0];
	rt_set(t, "max_chain_steps", v > s ? v : s);
	// origins: each chain's first block was allocated by the function's first growth
	rt_add(rt_origin("fill_vector()", "relocation"), "chains", 1);
	rt_add(rt_origin("fill_vector()", "relocation"), "steps", v);
	rt_add(rt_origin("build_string()", "relocation"), "chains", 1);
	rt_add(rt_origin("build_string()", "relocation"), "steps", s);
	rt_set(rt_realloc_totals(), "steps", 0);
	printf("checksum %lu\n", checksum);
	rt_print();
	return 0;
}
