// The `keywarden` command line: finds the command in the table, parses its options, runs it, and
// turns what went wrong into an exit code: 0 done, 1 the operation failed, 2 a wrong command line.
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  createArgon2Hasher,
  createHmacHasher,
  createKeyManager,
  type Hasher,
  type KeyManager,
  type KeyStore,
  openFileKeyStore,
} from '@keywarden/core';
import { createPostgresKeyStore } from '@keywarden/postgres';
import type { CliIo, Command, CommandContext } from './command.js';
import { COMMANDS } from './commands/index.js';
import { asUsageError, CommandError, UsageError } from './errors.js';
import type { Values } from './parse.js';

const GLOBAL_OPTIONS = {
  store: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`);
  return `keywarden: manage keywarden API keys

Usage: keywarden <command> [options]

Commands:
${lines.join('\n')}

Global options:
  --store <path|postgres://...>  key store (env KEYWARDEN_STORE; default .keywarden/keys.json)
  --json                         machine-readable output
  -h, --help                     help for any command
  -v, --version                  version

Hashing must match your server: KEYWARDEN_HASHER=argon2id (default) or hmac with KEYWARDEN_PEPPER.
`;
}

function hasherFrom(env: NodeJS.ProcessEnv): Hasher {
  const kind = env.KEYWARDEN_HASHER ?? 'argon2id';
  if (kind === 'argon2id') return createArgon2Hasher();
  if (kind === 'hmac') {
    if (!env.KEYWARDEN_PEPPER) throw new UsageError('KEYWARDEN_HASHER=hmac needs KEYWARDEN_PEPPER');
    return createHmacHasher({ pepper: env.KEYWARDEN_PEPPER });
  }
  throw new UsageError('KEYWARDEN_HASHER must be argon2id or hmac');
}

async function openStore(target: string): Promise<KeyStore & { close(): Promise<void> }> {
  if (/^postgres(ql)?:\/\//.test(target)) {
    return createPostgresKeyStore({ connectionString: target, listen: false, timeoutMs: 5000 });
  }
  return openFileKeyStore({ path: target, watch: false });
}

function version(): string {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** The command named by the first one or two words, and the arguments after it. */
function findCommand(argv: string[]): [Command | undefined, string[]] {
  const two = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1]}`);
  if (two) return [two, argv.slice(2)];
  return [COMMANDS.find((c) => c.name === argv[0]), argv.slice(1)];
}

function parse(command: Command, args: string[]): { values: Values; positionals: string[] } {
  try {
    const options = { ...GLOBAL_OPTIONS, ...command.options };
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify.*$/s, ''));
  }
}

/** Runs one command with its parsed arguments; the store it opened is closed after. */
async function execute(command: Command, values: Values, positionals: string[], io: CliIo): Promise<void> {
  if (command.takesId ? positionals.length !== 1 : positionals.length > 0) {
    throw new UsageError(
      command.takesId ? `${command.name} takes one key id` : `unexpected argument "${positionals[0]}"`,
    );
  }
  const storeTarget =
    (values.store as string | undefined) ?? io.env.KEYWARDEN_STORE ?? '.keywarden/keys.json';
  let store: (KeyStore & { close(): Promise<void> }) | null = null;
  let keys: KeyManager | null = null;
  const context: CommandContext = {
    values,
    io,
    storeTarget,
    id: positionals[0] ?? '',
    now: Date.now(),
    print: (human, data) => io.stdout(values.json === true ? `${JSON.stringify(data, null, 2)}\n` : human),
    async keys() {
      if (!keys) {
        const hasher = hasherFrom(io.env);
        store = await openStore(storeTarget);
        keys = createKeyManager({ store, hasher });
      }
      return keys;
    },
  };
  try {
    await command.run(context);
  } finally {
    await (store as (KeyStore & { close(): Promise<void> }) | null)?.close();
  }
}

/**
 * Runs the `keywarden` command line and resolves to its exit code: 0 done, 1 the operation
 * failed (not found, store unreachable), 2 the command line is wrong.
 *
 * @example
 * ```ts
 * const code = await runCli(['keys', 'list', '--json'], { stdout: console.log, stderr: console.error, env: process.env });
 * ```
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [first] = argv;
  if (!first || first === '-h' || first === '--help' || first === 'help') {
    io.stdout(globalHelp());
    return first ? 0 : 2;
  }
  if (first === '-v' || first === '--version') {
    io.stdout(`${version()}\n`);
    return 0;
  }
  const [command, args] = findCommand(argv);
  try {
    if (!command) throw new UsageError(`unknown command "${argv.slice(0, 2).join(' ')}"`);
    const { values, positionals } = parse(command, args);
    if (values.help) {
      io.stdout(command.usage);
      return 0;
    }
    await execute(command, values, positionals, io);
    return 0;
  } catch (caught) {
    const error = asUsageError(caught);
    if (error instanceof UsageError) {
      io.stderr(
        `keywarden: ${error.message}\nRun "keywarden ${command ? `${command.name} ` : ''}--help" for usage.\n`,
      );
      return 2;
    }
    const message = (error as Error)?.message ?? String(error);
    io.stderr(`keywarden: ${error instanceof CommandError ? message : `failed: ${message}`}\n`);
    return 1;
  }
}
