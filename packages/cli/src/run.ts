// The `keywarden` command line: finds the command in the table, parses its options, runs it, and
// turns what went wrong into an exit code: 0 done, 1 the operation failed, 2 a wrong command line.
import { existsSync, readFileSync } from 'node:fs';
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
import type { CliIo, Command, CommandContext } from './command.js';
import { COMMANDS } from './commands/index.js';
import { asUsageError, CommandError, UsageError } from './errors.js';
import { terminalSafe } from './format.js';
import { loadPostgres } from './optional-packages.js';
import { environmentsFrom, type Values } from './parse.js';

const GLOBAL_OPTIONS = {
  store: { type: 'string' },
  json: { type: 'boolean' },
  create: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`);
  return `keywarden: manage keywarden API keys

Usage: keywarden [global options] <command> [options]

Commands:
${lines.join('\n')}

Global options:
  --store <path|postgres://...>  key store (env KEYWARDEN_STORE; default .keywarden/keys.json)
  --create                       start a new keys file when there is none (keys create always may)
  --json                         machine-readable output
  -h, --help                     help for any command
  -v, --version                  version

Hashing must match your server: KEYWARDEN_HASHER=argon2id (default) or hmac with KEYWARDEN_PEPPER.
KEYWARDEN_ENVIRONMENTS=name=prefix,... adds key environments (prefixes) to live and test.
`;
}

/** `keywarden keys --help`: the commands of one group. */
function groupHelp(word: string, group: readonly Command[]): string {
  const width = Math.max(...group.map((c) => c.name.length)) + 2;
  const lines = group.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`);
  return `Usage: keywarden ${word} <command> [options]

Commands:
${lines.join('\n')}

Run "keywarden ${word} <command> --help" for its options, "keywarden --help" for the global ones.
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

const isPostgres = (target: string) => /^postgres(ql)?:\/\//.test(target);

async function openStore(target: string): Promise<KeyStore & { close(): Promise<void> }> {
  if (isPostgres(target)) {
    const { createPostgresKeyStore } = await loadPostgres();
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

const GLOBAL_FLAGS = new Set(['--store', '--json', '--create', '--help', '-h']);

/**
 * The command named by the first one or two words, and its arguments (the global options found
 * before or between the words go first, so `keywarden --store x migrate` works as users type it).
 */
function findCommand(argv: string[]): [Command | undefined, string[], string[]] {
  const globals: string[] = [];
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const flag = arg.split('=', 1)[0]!;
    if (GLOBAL_FLAGS.has(flag)) {
      globals.push(arg);
      if (arg === '--store' && i + 1 < argv.length) globals.push(argv[++i]!);
      continue;
    }
    if (arg.startsWith('-')) return [undefined, [...globals, ...argv.slice(i)], words];
    words.push(arg);
    const command = COMMANDS.find((c) => c.name === words.join(' '));
    if (command) return [command, [...globals, ...argv.slice(i + 1)], words];
    // The first word of two-word commands ("keys") waits for the second.
    if (words.length === 1 && COMMANDS.some((c) => c.name.startsWith(`${arg} `))) continue;
    return [undefined, globals, words];
  }
  return [undefined, globals, words];
}

function parse(command: Command, args: string[]): { values: Values; positionals: string[] } {
  for (const [name, reason] of Object.entries(command.refuses ?? {})) {
    // Options end at `--`; after it, `--secret` is a positional like any other word.
    const end = args.indexOf('--');
    if (
      args.slice(0, end === -1 ? undefined : end).some((a) => a === `--${name}` || a.startsWith(`--${name}=`))
    )
      throw new UsageError(reason);
  }
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
  const expected = (command.takesId ? 1 : 0) + (command.argumentName ? 1 : 0);
  if (positionals.length !== expected) {
    const idName = command.idName ?? 'key id';
    throw new UsageError(
      !command.takesId
        ? `unexpected argument "${positionals[0]}"`
        : command.argumentName
          ? `${command.name} takes an ${idName} and ${command.argumentName}`
          : `${command.name} takes one ${idName}`,
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
    argument: positionals[1] ?? '',
    now: Date.now(),
    print: (human, data) => io.stdout(values.json === true ? `${JSON.stringify(data, null, 2)}\n` : human),
    async keys() {
      if (!keys) {
        const hasher = hasherFrom(io.env);
        // A mistyped path must not look like an empty store ("No keys.") or start a new one unasked.
        if (!isPostgres(storeTarget) && !command.createsStore && !values.create && !existsSync(storeTarget))
          throw new CommandError(
            `the keys file ${storeTarget} does not exist ("keys create" starts one; --create starts an empty one)`,
          );
        store = await openStore(storeTarget);
        keys = createKeyManager({ store, hasher, environments: environmentsFrom(io.env) });
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
export async function runCli(argv: string[], terminal: CliIo): Promise<number> {
  // Everything printed passes through here: nothing from a record reaches the terminal raw.
  const io: CliIo = {
    ...terminal,
    stdout: (text) => terminal.stdout(terminalSafe(text)),
    stderr: (text) => terminal.stderr(terminalSafe(text)),
  };
  if (argv[0] === '-v' || argv[0] === '--version') {
    io.stdout(`${version()}\n`);
    return 0;
  }
  const [command, args, words] = findCommand(argv[0] === 'help' ? ['--help', ...argv.slice(1)] : argv);
  try {
    if (!command) {
      const unknown = args.find((a) => !GLOBAL_FLAGS.has(a.split('=', 1)[0]!) && a.startsWith('-'));
      const group = COMMANDS.filter((c) => words.length === 1 && c.name.startsWith(`${words[0]} `));
      if (group.length > 0 && (args.includes('--help') || args.includes('-h'))) {
        io.stdout(groupHelp(words[0]!, group));
        return 0;
      }
      if (group.length > 0)
        throw new UsageError(`"${words[0]}" needs a command: ${group.map((c) => c.name).join(', ')}`);
      if (words.length > 0) throw new UsageError(`unknown command "${words.join(' ')}"`);
      if (unknown !== undefined) throw new UsageError(`unknown option "${unknown}"`);
      // `keywarden` alone is a wrong command line; `keywarden --help` is not.
      io.stdout(globalHelp());
      return args.includes('--help') || args.includes('-h') ? 0 : 2;
    }
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
