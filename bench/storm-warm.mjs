// The warm client of bench/storm-http.mjs, in a process of its own so that the storm's clients
// never delay its timing: one request every 5 ms, round-robin over keys the server verified
// before, each timed from when it was due (a stalled server shows in its latency). argv: base URL,
// keys (comma-separated). On 'start' it starts a phase, on 'stop' it answers the phase's latencies.
const [base, list] = process.argv.slice(2);
const keys = list.split(',');
// A request every 5 ms: one takes about a millisecond of this machine's loopback and fetch, so at
// 1 ms the client itself would fall behind and its lag would pile up in every latency after.
const INTERVAL_MS = 5;
let running = false;
let latencies = [];
let done = Promise.resolve();
let i = 0;

async function phase() {
  let due = performance.now();
  while (running) {
    due += INTERVAL_MS;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const response = await fetch(`${base}/v3/files/a.png`, {
      headers: { 'x-api-key': keys[i++ % keys.length] },
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`a warm key was refused: ${response.status}`);
    latencies.push(performance.now() - due);
  }
}

process.on('message', async (message) => {
  if (message.type === 'start') {
    latencies = [];
    running = true;
    done = phase();
    process.send({ type: 'started' });
  } else if (message.type === 'stop') {
    running = false;
    await done;
    process.send({ type: 'latencies', latencies });
  } else if (message.type === 'exit') process.exit(0);
});
process.send({ type: 'ready' });
