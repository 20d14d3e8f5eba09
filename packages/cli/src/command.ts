import type { ParseArgsConfig } from 'node:util';
import type { KeyManager } from '@keywarden/core';
import type { Values } from './parse.js';

/** Where the CLI writes, and the environment it reads (injectable for tests). */
export interface CliIo {
  /** Receives normal output, one chunk per call, with its trailing newline. */
  stdout(text: string): void;
  /** Receives errors and hints. */
  stderr(text: string): void;
  /** Environment to read `KEYWARDEN_STORE`, `KEYWARDEN_TOKEN_SECRET`, `KEYWARDEN_HASHER` and `KEYWARDEN_PEPPER` from. */
  env: NodeJS.ProcessEnv;
}

/** What a command gets to run with. */
export interface CommandContext {
  values: Values;
  io: CliIo;
  /** The store named by `--store`, `KEYWARDEN_STORE` or the default file. */
  storeTarget: string;
  /** The one positional argument (a key id), for commands that take it. */
  id: string;
  /** The positional argument after the id, for commands that take one (`accounts credit <id> +N`). */
  argument: string;
  now: number;
  /** Prints `human`, or `data` as JSON under `--json`. */
  print(human: string, data: unknown): void;
  /** The key manager over the store, opened on first use and closed when the command ends. */
  keys(): Promise<KeyManager>;
}

/** One `keywarden` command: its usage, options and run. */
export interface Command {
  /** As typed: `keys create`. */
  name: string;
  /** One line for the global help. */
  summary: string;
  /** The command's --help. */
  usage: string;
  /** Its options beyond the global ones (`--store`, `--json`, `--help`). */
  options?: ParseArgsConfig['options'];
  /**
   * Options refused whatever their value, with the reason (`--secret`: a secret on the command
   * line). Checked before the options are parsed, so a value the parser would stumble on (one
   * starting with `-`) gets the same refusal.
   */
  refuses?: Readonly<Record<string, string>>;
  /** Whether it takes one id as its argument. */
  takesId?: boolean;
  /** What that argument is, in messages. @default 'key id' */
  idName?: string;
  /** The name of a second positional argument after the id, when the command takes one. */
  argumentName?: string;
  /** Whether it may start a new keys file (without `--create`). */
  createsStore?: boolean;
  run(ctx: CommandContext): Promise<void>;
}
