// Preloaded into the fan-out benchmark's servers (with --expose-gc): SIGUSR2 runs a full garbage
// collection, so that RSS read afterwards holds what the connections keep, not their garbage.
process.on('SIGUSR2', () => globalThis.gc?.());
