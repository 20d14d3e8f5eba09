// Imported first by every benchmark server (baselines, peers and keywarden alike), before any
// framework loads: a burst of process.nextTick calls at start-up.
//
// Why: without it, a Fastify process with any onRequest hook (an empty one, @fastify/bearer-auth,
// keywarden) settles, in about one start in four, in a state that costs ~2 µs more user CPU a
// request for its whole life, the extra time inside Node 20's process.nextTick (creating its
// queue entries). Measured with fresh pinned processes, keywarden with a Bearer key: 4 of 16
// slow without this burst, 0 of 32 with it (any burst: with or without arguments); a server with
// no hook was never slow and runs the same either way (user CPU 5.6-6.6 µs a request). The state
// is Node's, not the auth layer's, and it turned single rows of a run 15% low; this takes that
// noise out of the comparison for every row.
const noop = () => {};
for (let i = 0; i < 20_000; i++) process.nextTick(noop);
