// The command table: help and dispatch both come from it, in this order.
import type { Command } from '../command.js';
import {
  accountsCreate,
  accountsCredit,
  accountsDelete,
  accountsList,
  accountsResume,
  accountsShow,
  accountsSuspend,
  accountsUpdate,
} from './accounts.js';
import { keysCreate } from './keys-create.js';
import { keysDelete } from './keys-delete.js';
import { keysHashes } from './keys-hashes.js';
import { keysList } from './keys-list.js';
import { keysPurge } from './keys-purge.js';
import { keysRevoke } from './keys-revoke.js';
import { keysRotate } from './keys-rotate.js';
import { keysShow } from './keys-show.js';
import { keysUpdate } from './keys-update.js';
import { accountsUsage, keysUsage } from './keys-usage.js';
import { migrate } from './migrate.js';
import { secretGenerate } from './secret-generate.js';
import { tokenMint } from './token-mint.js';
import { usageExport } from './usage-export.js';

export const COMMANDS: readonly Command[] = [
  keysCreate,
  keysList,
  keysShow,
  keysUpdate,
  keysRotate,
  keysRevoke,
  keysDelete,
  keysPurge,
  keysUsage,
  keysHashes,
  accountsCreate,
  accountsList,
  accountsShow,
  accountsUpdate,
  accountsCredit,
  accountsSuspend,
  accountsResume,
  accountsDelete,
  accountsUsage,
  usageExport,
  tokenMint,
  secretGenerate,
  migrate,
];
