"""The Lua scripts of the Redis back-end: the steps that must be atomic.

Each runs as one Redis command, so no other client sees (or interleaves with) a half-done
step. redis-py sends them by SHA and reloads them after a Redis restart.
"""

from __future__ import annotations

#: Append one event to a job's log. Returns its seq, or nil when the log is closed.
#:
#: KEYS: log stream, job hash. ARGV: name, data, token, final ("1"/"0"), TTL (ms), fence,
#: epoch.
#: Entries are ``n`` name, ``d`` data, ``t`` token, and ``f`` on the final entry. The seq is
#: the entry id ``0-<seq>``, so allocating it and writing the entry cannot be split. The
#: TTLs are set by the first event and refreshed every 64th, not on every append: the TTL
#: of a running job is a day, and two commands fewer per event is 40% of Redis's work. The
#: token makes a retried call (redis-py retries when a connection drops, and the first
#: attempt may have been applied) answer with the first attempt's seq instead of
#: appending the event twice. A log without entries whose job has no record is refused:
#: the job expired or Redis lost its data, and restarting at seq 1 would hand subscribers
#: events they believe they already have. A fence other than "0" is the writer's claim
#: (see :data:`FENCE`): once the job's record holds a newer one, the writer lost the job
#: to another worker and is refused, so a worker that stalled and woke up appends nothing.
#: The append that creates the log writes its epoch (a fresh random value from the caller)
#: into the record: a log created again, after it was lost, is told apart by its epoch.
APPEND = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local seq = 1
if last then
  local fields = last[2]
  if fields[6] == ARGV[3] then return tonumber(string.sub(last[1], 3)) end
  if fields[7] then return false end
  if ARGV[6] ~= '0' and redis.call('HGET', KEYS[2], 'attempts') ~= ARGV[6] then return false end
  seq = tonumber(string.sub(last[1], 3)) + 1
elseif redis.call('EXISTS', KEYS[2]) == 0 then
  return false
elseif ARGV[6] ~= '0' and redis.call('HGET', KEYS[2], 'attempts') ~= ARGV[6] then
  return false
else
  redis.call('HSET', KEYS[2], 'epoch', '"' .. ARGV[7] .. '"')
end
if ARGV[4] == '1' then
  redis.call('XADD', KEYS[1], '0-' .. seq, 'n', ARGV[1], 'd', ARGV[2], 't', ARGV[3], 'f', '1')
else
  redis.call('XADD', KEYS[1], '0-' .. seq, 'n', ARGV[1], 'd', ARGV[2], 't', ARGV[3])
end
if seq % 64 == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return seq
"""

#: Set fields of a job record that exists; never resurrect an expired one as a stub, and
#: never reopen a finished one (a worker's late progress must not undo a cancellation).
#:
#: KEYS: job hash. ARGV: field, value, field, value, ... (values are JSON)
UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local finished = {['"complete"'] = true, ['"error"'] = true, ['"cancelled"'] = true}
if finished[redis.call('HGET', KEYS[1], 'status')] then
  local new = nil
  for i = 1, #ARGV, 2 do
    if ARGV[i] == 'status' then new = ARGV[i + 1] end
  end
  if not finished[new] then return 0 end
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

#: Keep alive ("keep") or finish ("done") a claimed queue entry, only while the caller
#: still owns it: a worker that stalled past the reclaim time must not take the job back
#: from the worker that reclaimed it, nor acknowledge that worker's run.
#:
#: KEYS: queue stream. ARGV: group, consumer, entry id, "keep" or "done". Returns 1 if owned.
SETTLE = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if not pending or pending[2] ~= ARGV[2] then return 0 end
if ARGV[4] == 'keep' then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
else
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
  redis.call('XDEL', KEYS[1], ARGV[3])
end
return 1
"""

#: Take the fence of a claimed job: count one more claim in the job record and return the
#: count, which the claimant's appends then carry (see :data:`APPEND`). Only while the
#: caller still owns the queue entry, so a worker that stalled between its read of the
#: queue and this step cannot fence out the worker that reclaimed the job meanwhile.
#:
#: KEYS: queue stream, job hash. ARGV: group, consumer, entry id. Returns
#: ``{fence, deliveries}``, fence 0 when the entry is not the caller's or the job is gone.
FENCE = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if not pending or pending[2] ~= ARGV[2] then return {0, 0} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {0, pending[4]} end
return {redis.call('HINCRBY', KEYS[2], 'attempts', 1), pending[4]}
"""

#: Count one more active job of a client, unless it has ARGV[1] already; 1 if admitted.
#:
#: KEYS: the client's counter. ARGV: limit, TTL (ms): a counter whose jobs never ended
#: (their records expired) does not outlive the longest a job can run.
ADMIT = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
"""

#: One of a client's jobs ended. KEYS: the client's counter.
RELEASE = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
"""

#: Reserve room for an upload in the budget of bytes that waiting uploads may take.
#:
#: KEYS: the budget hash (ref -> "size expiry_ms"). ARGV: ref, size, limit, TTL (ms).
#: Entries past their expiry (their upload key expired with them) are dropped as it goes;
#: the hash holds at most one entry per waiting job, which MAX_QUEUED_JOBS bounds. 1 if
#: the upload fits.
RESERVE_UPLOAD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local size, expires = string.match(fields[i + 1], '(%d+) (%d+)')
  if tonumber(expires) <= now then
    redis.call('HDEL', KEYS[1], fields[i])
  elseif fields[i] ~= ARGV[1] then
    total = total + tonumber(size)
  end
end
if total + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (now + tonumber(ARGV[4])))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

#: Keep a finished job for the retention time, and at most ARGV[3] finished jobs: past
#: that the oldest are deleted at once, so finished logs cannot fill Redis.
#:
#: KEYS: the finished-jobs sorted set (score: finish time, ms). ARGV: job id, retention
#: (ms), most finished jobs, key prefix. Returns how many older jobs were dropped.
RETIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local job, log = ARGV[4] .. ':job:' .. ARGV[1], ARGV[4] .. ':log:' .. ARGV[1]
redis.call('PEXPIRE', job, ARGV[2])
redis.call('PEXPIRE', log, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
-- Scores strictly increase, so that the oldest is popped first even within one ms.
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
redis.call('ZADD', KEYS[1], math.max(now, (tonumber(newest) or 0) + 1), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local dropped = 0
while redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[3]) do
  local oldest = redis.call('ZPOPMIN', KEYS[1])[1]
  redis.call('DEL', ARGV[4] .. ':job:' .. oldest, ARGV[4] .. ':log:' .. oldest)
  dropped = dropped + 1
end
return dropped
"""

#: One job creation of a client in a sliding window of a minute, shared by every node.
#:
#: KEYS: the client's window (sorted set of hit times, ms). ARGV: limit, a unique member.
#: Returns "0" when the hit counts, else the milliseconds until the oldest hit leaves.
RATE_HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
  return tostring(tonumber(oldest) + 60000 - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], 60000)
return '0'
"""
