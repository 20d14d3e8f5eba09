// Where a JSON text stops being valid, for error messages that point at the line and column.
// JSON.parse gives a position in some of its messages and not in others ("Unexpected token '}',
// ... is not valid JSON" has none on Node 20), so after it fails this small scanner walks the
// text to the first byte that no JSON value can continue with. Only ever run on that error path.

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

class Stop {
  constructor(readonly at: number) {}
}

function scanner(text: string) {
  let i = 0;
  const skip = () => {
    while (i < text.length && WHITESPACE.has(text[i]!)) i++;
  };
  const match = (pattern: RegExp) => {
    pattern.lastIndex = i;
    if (!pattern.test(text)) throw new Stop(i);
    i = pattern.lastIndex;
  };
  const expect = (char: string) => {
    if (text[i] !== char) throw new Stop(i);
    i++;
  };
  function list(close: string, item: () => void): void {
    i++;
    skip();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      skip();
      if (text[i] === close) {
        i++;
        return;
      }
      expect(',');
      skip();
    }
  }
  function value(): void {
    skip();
    const c = text[i];
    if (c === '{') {
      list('}', () => {
        match(STRING);
        skip();
        expect(':');
        value();
      });
    } else if (c === '[') list(']', value);
    else if (c === '"') match(STRING);
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) match(NUMBER);
    else {
      for (const word of ['true', 'false', 'null']) {
        if (text.startsWith(word, i)) {
          i += word.length;
          return;
        }
      }
      throw new Stop(i);
    }
  }
  return {
    run(): number {
      value();
      skip();
      return i; // trailing content, if any, starts here
    },
  };
}

/**
 * The offset of the first invalid character of a JSON text, and its 1-based line and column.
 *
 * @example
 * ```ts
 * jsonErrorPosition('{\n  "a": }'); // { offset: 9, line: 2, column: 8 }
 * ```
 */
export function jsonErrorPosition(text: string): { offset: number; line: number; column: number } {
  let offset: number;
  try {
    offset = scanner(text).run();
  } catch (stop) {
    offset = stop instanceof Stop ? stop.at : 0; // 0 also for nesting too deep to walk
  }
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { offset, line, column: offset - before.lastIndexOf('\n') };
}
