// reloc_cxx_strvec: std::vector<std::string> of short strings (they live in the strings'
// own small buffers, inside the vector's block), push_back of 5,000 of them in
// fill_string_vector(). On each reallocation libstdc++ moves every string into the new
// block, copying its characters and terminator out of the old block: a relocation, at
// fill_string_vector(), when those copies reach across a quarter of what the old block holds
// from the first of them, and 64 bytes at least (as growprof requires of a relocation's
// copies: not when one string moves out of a vector of capacity 1, as a field is taken out
// of a larger block). How many bytes the moves copy is libstdc++'s business: only steps and
// chains are pinned.
#include "reloc_truth.h"

#include <string>
#include <vector>

static unsigned long checksum;

RT_SITE void fill_string_vector()
{
	std::vector<std::string> v;
	int first = 1;
	for (int i = 0; i < 5000; i++) {
		size_t cap = v.capacity();
		/* the part of the block the moves will copy from, were it to move now */
		int across_half = 0;
		if (cap > 0 && v.size() == cap) {
			const char *block = (const char *)v.data();
			const char *lo = v.front().data(), *hi = v.back().data() + v.back().size() + 1;
			size_t held = cap * sizeof(std::string) - (size_t)(lo - block);
			across_half = (size_t)(hi - lo) * 4 >= held && hi - lo >= RT_RELOC_MIN &&
			              lo >= block && hi <= block + cap * sizeof(std::string);
		}
		v.push_back(std::to_string(i % 1000));
		if (v.capacity() != cap && across_half) {
			struct rt_entry *s = rt_site("fill_string_vector()", "relocation");
			rt_add(s, "steps", 1);
			rt_add(s, "grows", 1);
			rt_add(s, "moves", 1);
			rt_add(rt_reloc_totals(), "steps", 1);
			if (first)
				rt_add(s, "chains", 1), rt_add(rt_reloc_totals(), "chains", 1);
			first = 0;
		}
	}
	rt_site("fill_string_vector()", "relocation")->pattern = "geometric";
	checksum += v.size() + (unsigned char)v[777][0];
}

int main()
{
	rt_truth.program = "reloc_cxx_strvec";
	rt_truth.only_listed = 1;
	fill_string_vector();
	rt_set(rt_realloc_totals(), "steps", 0);
	printf("checksum %lu\n", checksum);
	rt_print();
	return 0;
}
