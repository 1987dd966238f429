// reloc_cxx_strvec: std::vector<std::string> of short strings (they live in the strings'
// own small buffers, inside the vector's block), push_back of 5,000 of them in
// fill_string_vector(). On each reallocation libstdc++ moves every string into the new
// block, copying its small buffer out of the old block: a relocation per capacity change
// of a non-empty vector, at fill_string_vector(). How many bytes the moves copy is
// libstdc++'s business (length + 1 or the whole buffer): only steps and chains are pinned.
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
		v.push_back(std::to_string(i % 1000));
		if (v.capacity() != cap && cap > 0) {
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
