/* An empty preload library: the baseline the benchmarks compare the cost of
 * loading libcloexec.so against. Intentionally no code. */
