import { describe, expect, it } from 'vitest';
import { withoutQueryParameter } from '../../src/integration-kit.js';

describe('withoutQueryParameter', () => {
  it.each([
    ['/a?api_key=K&x=a%20b', '/a?x=a%20b'],
    ['/a?x=a%20b&api_key=K', '/a?x=a%20b'],
    ['/a?x=1+2&api_key=K&y=%E2%82%AC', '/a?x=1+2&y=%E2%82%AC'],
    ['/a?api_key=K', '/a'],
    ['/a?api_key=K#frag', '/a#frag'],
    ['/a?api%5Fkey=K&b=1', '/a?b=1'], // the name as the credential was read: decoded
    ['/a?x=1&&api_key=K', '/a?x=1&'],
    ['/a?api_keys=K&x=api_key', '/a?api_keys=K&x=api_key'], // another name, a value: kept
    ['/a?x=1', '/a?x=1'],
    ['/a', '/a'],
  ])('%s -> %s', (url, expected) => {
    expect(withoutQueryParameter(url, 'api_key')).toBe(expected);
  });
});
