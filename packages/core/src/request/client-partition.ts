import { isIP } from 'node:net';

/**
 * The partition a client address is throttled under: an IPv4 address itself, an IPv6 address by
 * its /64 (one subscriber usually holds a whole /64, so per-address counting would not stop them).
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
