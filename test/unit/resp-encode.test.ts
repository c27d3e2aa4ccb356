// The encoders for what the proxy itself says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CommandFramer } from '../../src/resp/command-framer.js';
import {
  RespError,
  encode,
  encodeCommand,
  encodeError,
  encodeSimple,
} from '../../src/resp/encode.js';

const text = (b: Buffer): string => b.toString('latin1');

describe('encodeCommand', () => {
  it('writes a multibulk of bulk strings', () => {
    assert.equal(
      text(encodeCommand(['REPLCONF', 'listening-port', '6380'])),
      '*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$4\r\n6380\r\n',
    );
  });

  it('counts bytes, not characters, and keeps binary arguments as they are', () => {
    assert.equal(
      text(encodeCommand(['SET', 'é', Buffer.from([0, 13, 10])])),
      '*3\r\n$3\r\nSET\r\n$2\r\n\xc3\xa9\r\n$3\r\n\0\r\n\r\n',
    );
  });

  it('writes an empty command as *0', () => {
    assert.equal(text(encodeCommand([])), '*0\r\n');
  });

  it('round-trips any arguments through the CommandFramer', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 8 }),
        (raw) => {
          const args = raw.map((a) => Buffer.from(a));
          const encoded = encodeCommand(args);
          const frames = new CommandFramer().push(encoded);
          assert.equal(frames.length, 1);
          assert.equal(frames[0]?.size, encoded.length);
          assert.deepEqual(frames[0]?.args.map(text), args.map(text));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('encodeSimple', () => {
  it('writes +text CRLF', () => {
    assert.equal(text(encodeSimple('OK')), '+OK\r\n');
    assert.equal(text(encodeSimple('')), '+\r\n');
  });

  it('refuses text containing CR or LF', () => {
    for (const bad of ['a\rb', 'a\nb', 'OK\r\n']) {
      assert.throws(() => encodeSimple(bad), { code: 'RBUDDY_ERR_PROTOCOL' });
    }
  });
});

describe('encodeError', () => {
  it('writes -message CRLF', () => {
    assert.equal(text(encodeError('ERR unknown command')), '-ERR unknown command\r\n');
  });

  it('turns CR and LF into spaces so the reply stays one line', () => {
    assert.equal(text(encodeError('ERR a\r\nb\nc')), '-ERR a  b c\r\n');
  });
});

describe('encode', () => {
  it('writes strings and Buffers as bulk strings, numbers as integers, null as the null bulk', () => {
    assert.equal(text(encode('hi')), '$2\r\nhi\r\n');
    assert.equal(text(encode(Buffer.from('a\r\n'))), '$3\r\na\r\n\r\n');
    assert.equal(text(encode(42)), ':42\r\n');
    assert.equal(text(encode(-7)), ':-7\r\n');
    assert.equal(text(encode(null)), '$-1\r\n');
  });

  it('writes errors and nested arrays', () => {
    assert.equal(
      text(encode(['a', 1, null, [new RespError('ERR x'), []]])),
      '*4\r\n$1\r\na\r\n:1\r\n$-1\r\n*2\r\n-ERR x\r\n*0\r\n',
    );
  });

  it('refuses numbers that are not integers', () => {
    for (const bad of [1.5, Number.NaN, Infinity, 2 ** 60]) {
      assert.throws(() => encode(bad), { code: 'RBUDDY_ERR_PROTOCOL' });
    }
  });
});
