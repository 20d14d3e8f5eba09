import { isIP } from 'node:net';

/**
 * The partition a client address is throttled under: an IPv4 address itself, an IPv6 address by
 * its /64 (one subscriber usually holds a whole /64, so per-address counting would not stop them).
 * IPv4-mapped IPv6 counts as IPv4; anything that is not an address gives null. Use it to count your
 * own per-client budgets the way keywarden counts its failure budgets.
 *
 * @example
 * ```ts
 * clientPartition('2001:db8:1:2:3:4:5:6'); // '2001:0db8:0001:0002::/64'
 * clientPartition('::ffff:10.0.0.1');      // '10.0.0.1'
 * ```
 */
export function clientPartition(ip: string | undefined): string | null {
  if (typeof ip !== 'string') return null;
  let address = ip;
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && isIP(address.slice(7)) === 4) {
    address = address.slice(7);
  }
  const family = isIP(address);
  if (family === 4) return address;
  if (family !== 6) return null;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.padStart(4, '0'))
    .join(':')}::/64`;
}
