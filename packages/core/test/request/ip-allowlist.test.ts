import { describe, expect, it } from 'vitest';
import { cidrsWithin } from '../../src/request/ip-allowlist.js';

describe('cidrsWithin (an owner narrowing an operator’s IP allowlist)', () => {
  it.each([
    [['10.1.0.0/16'], ['10.0.0.0/8'], true],
    [['10.1.2.3/32'], ['10.0.0.0/8'], true],
    [['10.0.0.0/8'], ['10.0.0.0/8'], true],
    [['10.0.0.0/7'], ['10.0.0.0/8'], false],
    [['11.0.0.0/16'], ['10.0.0.0/8'], false],
    [['10.1.0.0/16', '192.168.1.0/24'], ['10.0.0.0/8'], false],
    [['10.1.0.0/16', '192.168.1.0/24'], ['10.0.0.0/8', '192.168.0.0/16'], true],
    [[], ['10.0.0.0/8'], false], // "any address" is wider than any list
    [['10.0.0.0/8'], [], true],
    [[], [], true],
    [['::ffff:10.1.0.0/112'], ['10.0.0.0/8'], true], // IPv4-mapped, compared as IPv4
    [['10.1.0.0/16'], ['::ffff:10.0.0.0/104'], true],
    [['2001:db8:1::/48'], ['2001:db8::/32'], true],
    [['2001:db8::/31'], ['2001:db8::/32'], false],
    [['2001:db8::/48'], ['10.0.0.0/8'], false],
    [['0.0.0.0/0'], ['10.0.0.0/8'], false],
    // Covered by two blocks together, by neither alone: refused (too much, never too little).
    [['10.0.0.0/23'], ['10.0.0.0/24', '10.0.1.0/24'], false],
  ])('%j within %j: %s', (inner, outer, expected) => {
    expect(cidrsWithin(inner, outer)).toBe(expected);
  });
});
