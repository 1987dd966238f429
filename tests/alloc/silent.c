/* silent.c - a dynamically linked program that never calls the allocator, as a Go program
 * (its own allocator) looks to the preload. Writes one line with write(2), exits 3. */
#include <unistd.h>

int main(void)
{
	static const char msg[] = "no malloc here\n";
	return write(1, msg, sizeof msg - 1) == sizeof msg - 1 ? 3 : 1;
}
