import { BlockList, isIP } from 'node:net';

/**
 * Turns a client address into the form `net.BlockList` compares: IPv4-mapped IPv6
 * (`::ffff:10.0.0.1`, what a dual-stack server reports for IPv4 clients) becomes plain IPv4.
 */
function normalizeAddress(ip: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  let address = ip;
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && isIP(address.slice(7)) === 4) {
    address = address.slice(7);
  }
  const family = isIP(address);
  if (family === 0) return null;
  return { address, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * Compiles a CIDR allowlist (as normalized by `normalizeCidr`) into a predicate. An empty list
 * allows every address; a missing or unparsable address is never allowed by a non-empty list.
 */
export function createIpAllowlist(cidrs: readonly string[]): (ip: string | undefined) => boolean {
  if (cidrs.length === 0) return () => true;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const slash = cidr.lastIndexOf('/');
    const network = normalizeAddress(cidr.slice(0, slash));
    if (!network) continue; // records are validated on write; an unreadable entry allows nothing
    const bits = Number(cidr.slice(slash + 1));
    // An IPv4-mapped network written as IPv6 is compared as IPv4, like the addresses are.
    const prefix = network.family === 'ipv4' && cidr.includes(':') ? Math.max(0, bits - 96) : bits;
    list.addSubnet(network.address, prefix, network.family);
  }
  // Answers are remembered by address as given: `BlockList.check` parses the address on every
  // call, and with the normalizing above a check cost ~1.1 µs (`pnpm bench`, "warm key + path + IP
  // + scope"), against ~30 ns for a Map hit; a key is used from few addresses. Bounded: at most
  // REMEMBERED addresses per list, forgotten all at once when full, and none longer than an
  // address can be (a proxy may pass anything as the client address). Only requests that carry
  // the list's valid key get here.
  const answers = new Map<string, boolean>();
  return (ip) => {
    if (typeof ip !== 'string') return false;
    let allowed = answers.get(ip);
    if (allowed === undefined) {
      const client = normalizeAddress(ip);
      allowed = client !== null && list.check(client.address, client.family);
      if (ip.length <= MAX_ADDRESS_LENGTH) {
        if (answers.size >= REMEMBERED) answers.clear();
        answers.set(ip, allowed);
      }
    }
    return allowed;
  };
}

/** Addresses whose answer one allowlist remembers. */
const REMEMBERED = 64;
/** Longest textual IP address: an IPv4-mapped IPv6 address written out in full. */
const MAX_ADDRESS_LENGTH = 45;

/** A normalized CIDR block (`address/bits`) as `net.BlockList` takes it, IPv4-mapped IPv6 as IPv4. */
function blockOf(cidr: string): { address: string; family: 'ipv4' | 'ipv6'; bits: number } | null {
  const slash = cidr.lastIndexOf('/');
  if (slash === -1) return null;
  const network = normalizeAddress(cidr.slice(0, slash));
  const bits = Number(cidr.slice(slash + 1));
  if (!network || !Number.isInteger(bits)) return null;
  return {
    ...network,
    bits: network.family === 'ipv4' && cidr.includes(':') ? Math.max(0, bits - 96) : bits,
  };
}

/**
 * Whether every address `inner` admits is admitted by `outer` (both lists of normalized CIDR
 * blocks; an empty list admits every address). Each inner block must lie inside one outer block:
 * a block covered only by several together is refused, which can only refuse too much.
 *
 * @example
 * ```ts
 * cidrsWithin(['10.1.0.0/16'], ['10.0.0.0/8']); // true
 * cidrsWithin([], ['10.0.0.0/8']);              // false: every address is wider
 * ```
 */
export function cidrsWithin(inner: readonly string[], outer: readonly string[]): boolean {
  if (outer.length === 0) return true;
  if (inner.length === 0) return false;
  const outers = outer.map(blockOf);
  return inner.every((cidr) => {
    const block = blockOf(cidr);
    return (
      block !== null &&
      outers.some((o) => {
        if (o === null || o.family !== block.family || o.bits > block.bits) return false;
        const list = new BlockList();
        list.addSubnet(o.address, o.bits, o.family);
        return list.check(block.address, block.family);
      })
    );
  });
}
