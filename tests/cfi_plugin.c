/* Built twice (tests/CMakeLists.txt): the same code with another frame
 * size (PLUGIN_FRAME), so that a library loaded where the other was sees
 * its PCs with other rules (test_cfi, dlclose). */
__attribute__((noinline)) int plugin_call(void (*cb)(void))
{
	volatile char buf[PLUGIN_FRAME];
	buf[0] = 1;
	cb();
	return buf[0] + buf[PLUGIN_FRAME - 1];
}
