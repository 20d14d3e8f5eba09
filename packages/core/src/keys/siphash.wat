;; SipHash-2-4 with a 128-bit output, for the verified-key cache's digest (keys/key-digest.ts).
;; The source of keys/siphash-wasm.ts: after a change here, run `pnpm --filter @keywarden/core wasm`
;; (a test fails while the two differ).
;;
;; Why WebAssembly: JavaScript has no 64-bit integers, so the JavaScript version (key-digest.ts,
;; kept as the fallback) spends most of its time carrying between 32-bit halves, and TurboFan makes
;; about 5 KB of machine code of it; here each step is one instruction on native 64-bit words.
;;
;; Memory (one page, little-endian), as the caller fills it:
;;   0..15   the key: k0, k1
;;   16..31  the output, written by $hash: the first 64 bits, then the second
;;   32..    the message, $n bytes. $hash zeroes every block once it has read it, so that no
;;           plaintext is left in this memory after a call.
(module
  (memory (export "memory") 1)
  (func $hash (export "hash") (param $n i32)
    (local $v0 i64) (local $v1 i64) (local $v2 i64) (local $v3 i64)
    (local $m i64) (local $first i64)
    (local $step i32) (local $blocks i32) (local $rounds i32) (local $r i32) (local $at i32) (local $tail i32)
    (local.set $v0 (i64.xor (i64.load (i32.const 0)) (i64.const 0x736f6d6570736575)))
    ;; 0x...6f6d with the 128-bit variant's 0xee folded in
    (local.set $v1 (i64.xor (i64.load (i32.const 8)) (i64.const 0x646f72616e646f83)))
    (local.set $v2 (i64.xor (i64.load (i32.const 0)) (i64.const 0x6c7967656e657261)))
    (local.set $v3 (i64.xor (i64.load (i32.const 8)) (i64.const 0x7465646279746573)))
    ;; the last block holds the tail and the length
    (local.set $blocks (i32.add (i32.shr_u (local.get $n) (i32.const 3)) (i32.const 1)))
    ;; One loop, so the round's code exists once: steps below $blocks absorb a block (2 rounds);
    ;; step $blocks finalizes (4 rounds) and keeps the first 64 bits; the last step (4 rounds)
    ;; gives the second 64 bits.
    (loop $steps
      (local.set $rounds (i32.const 4))
      (local.set $m (i64.const 0))
      (if (i32.lt_u (local.get $step) (local.get $blocks))
        (then
          (local.set $rounds (i32.const 2))
          (local.set $at (i32.add (i32.const 32) (i32.shl (local.get $step) (i32.const 3))))
          (if (i32.lt_u (local.get $step) (i32.sub (local.get $blocks) (i32.const 1)))
            (then (local.set $m (i64.load (local.get $at))))
            (else
              (local.set $tail (i32.and (local.get $n) (i32.const 7)))
              (local.set $m (i64.shl (i64.extend_i32_u (local.get $n)) (i64.const 56)))
              (if (local.get $tail)
                (then
                  (local.set $m
                    (i64.or (local.get $m)
                      (i64.and (i64.load (local.get $at))
                        (i64.sub
                          (i64.shl (i64.const 1) (i64.extend_i32_u (i32.shl (local.get $tail) (i32.const 3))))
                          (i64.const 1)))))))))
          (i64.store (local.get $at) (i64.const 0))
          (local.set $v3 (i64.xor (local.get $v3) (local.get $m))))
        (else
          (if (i32.eq (local.get $step) (local.get $blocks))
            (then (local.set $v2 (i64.xor (local.get $v2) (i64.const 0xee))))
            (else (local.set $v1 (i64.xor (local.get $v1) (i64.const 0xdd)))))))
      (local.set $r (i32.const 0))
      (loop $round
        (local.set $v0 (i64.add (local.get $v0) (local.get $v1)))
        (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 13)) (local.get $v0)))
        (local.set $v0 (i64.rotl (local.get $v0) (i64.const 32)))
        (local.set $v2 (i64.add (local.get $v2) (local.get $v3)))
        (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 16)) (local.get $v2)))
        (local.set $v0 (i64.add (local.get $v0) (local.get $v3)))
        (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 21)) (local.get $v0)))
        (local.set $v2 (i64.add (local.get $v2) (local.get $v1)))
        (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 17)) (local.get $v2)))
        (local.set $v2 (i64.rotl (local.get $v2) (i64.const 32)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $round (i32.lt_u (local.get $r) (local.get $rounds))))
      (if (i32.lt_u (local.get $step) (local.get $blocks))
        (then (local.set $v0 (i64.xor (local.get $v0) (local.get $m))))
        (else
          (if (i32.eq (local.get $step) (local.get $blocks))
            (then
              (local.set $first
                (i64.xor (i64.xor (local.get $v0) (local.get $v1)) (i64.xor (local.get $v2) (local.get $v3))))))))
      (local.set $step (i32.add (local.get $step) (i32.const 1)))
      (br_if $steps (i32.lt_u (local.get $step) (i32.add (local.get $blocks) (i32.const 2)))))
    (i64.store (i32.const 16) (local.get $first))
    (i64.store (i32.const 24)
      (i64.xor (i64.xor (local.get $v0) (local.get $v1)) (i64.xor (local.get $v2) (local.get $v3))))))
