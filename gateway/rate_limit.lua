-- Two token buckets (tenant, client) checked and charged atomically, in one round trip: a block
-- of up to ARGV[5] tokens is reserved at once for the calling gateway process to spend locally.
-- KEYS[1] tenant bucket, KEYS[2] client bucket, KEYS[3] the tenant's limits (hash, optional)
-- ARGV: default tenant rate/s, tenant burst, client rate/s, client burst, tokens wanted,
--       the largest block as a fraction of the smaller burst (at least 1 token)
-- Returns {allowed (1|0), limit, remaining, wait_ms, reset_ms, granted}
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cfg = redis.call('HMGET', KEYS[3], 'rate', 'burst', 'client_rate', 'client_burst')
local rates = {tonumber(cfg[1]) or tonumber(ARGV[1]), tonumber(cfg[3]) or tonumber(ARGV[3])}
local bursts = {tonumber(cfg[2]) or tonumber(ARGV[2]), tonumber(cfg[4]) or tonumber(ARGV[4])}
local wanted = math.max(1, math.floor(tonumber(ARGV[5]) or 1))
local block = math.max(1, math.floor(math.min(bursts[1], bursts[2]) * (tonumber(ARGV[6]) or 0)))
local levels = {}
local wait = 0
for i = 1, 2 do
  local bucket = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local level = tonumber(bucket[1]) or bursts[i]
  local ts = tonumber(bucket[2]) or now
  level = math.min(bursts[i], level + math.max(0, now - ts) * rates[i])
  levels[i] = level
  if level < 1 then
    wait = math.max(wait, (1 - level) / rates[i])
  end
end
-- Whole tokens both buckets hold, as many as wanted, never more than a block.
local granted = math.max(0, math.min(wanted, block, math.floor(math.min(levels[1], levels[2]))))
local allowed = 0
if granted >= 1 then allowed = 1 end
local remaining = nil
local reset = 0
for i = 1, 2 do
  local level = levels[i] - granted
  redis.call('HSET', KEYS[i], 'tokens', tostring(level), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(bursts[i] / rates[i] * 1000) + 1000)
  if remaining == nil or level < remaining then remaining = level end
  reset = math.max(reset, (bursts[i] - level) / rates[i])
end
return {allowed, math.min(bursts[1], bursts[2]), math.floor(math.max(remaining, 0)),
        math.ceil(wait * 1000), math.ceil(reset * 1000), granted}
