// The two Lua scripts the store runs. Each touches only the keys of one API key (they share a
// `{keyId}` hash tag), so each runs on Redis Cluster.

/**
 * Charges, and leases spare units, all or nothing.
 *
 * KEYS: the counters. ARGV, for each counter in turn: `need` (units this call charges), `want`
 * (spare units the instance asks to hold), `limit`, TTL in ms.
 *
 * Allowed when every counter's count plus its `need` stays within its limit; then each counter
 * grows by `need` plus its grant. The grant is `want`, but at most an eighth of what would remain
 * above the window's last 64 units: those are never on lease, so near the limit every request is
 * decided here, one at a time, and no unit can be stranded on an instance that stopped asking. Refused: nothing changes. A counter this call creates
 * gets the TTL. Needs and wants of 0 only read. Answers { allowed (1/0), count1, grant1, count2,
 * grant2, ... }, each count after the call.
 */
export const LEASE = `
local out = { 1 }
local current = {}
for i = 1, #KEYS do
  current[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current[i] + tonumber(ARGV[4 * i - 3]) > tonumber(ARGV[4 * i - 1]) then out[1] = 0 end
end
for i = 1, #KEYS do
  local count = current[i]
  local grant = 0
  if out[1] == 1 then
    local need = tonumber(ARGV[4 * i - 3])
    grant = math.floor((tonumber(ARGV[4 * i - 1]) - count - need - 64) / 8)
    grant = math.max(0, math.min(tonumber(ARGV[4 * i - 2]), grant))
    local add = need + grant
    if add > 0 then
      count = redis.call('INCRBY', KEYS[i], add)
      if count == add then redis.call('PEXPIRE', KEYS[i], ARGV[4 * i]) end
    end
  end
  out[2 * i] = count
  out[2 * i + 1] = grant
end
return out
`;

/**
 * Gives back units an instance held and did not spend: KEYS[1] the counter, ARGV[1] the units.
 * A counter that has expired (its window ended) stays gone; a count never goes below 0.
 */
export const GIVE_BACK = `
local count = redis.call('GET', KEYS[1])
if not count then return 0 end
local left = math.max(0, tonumber(count) - tonumber(ARGV[1]))
redis.call('SET', KEYS[1], left, 'KEEPTTL')
return left
`;

/**
 * Adds one key's usage of one day: KEYS[1] the day's hash, ARGV[1] when it expires (epoch
 * seconds), then field and increment pairs. One call per key and day in a batch.
 */
export const ADD_USAGE = `
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
`;
