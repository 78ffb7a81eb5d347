-- wrk script: status changes, each request on a different pre-created action line with the
-- version it is known to have, so that no request conflicts with another.
--
--   wrk ... -s status_change.lua <base url> -- <lines file> <threads> <once|cycle>
--
-- The lines file holds one "id version status" per line; thread k takes every k-th one.
-- "cycle": go round the thread's lines again and again, ongoing <-> on_hold, counting the
--   versions up (a thread's lines outnumber its connections many times over, so a line's
--   previous change has been answered before it comes round again).
-- "once": change each line once (to ongoing); a thread with no line left stops (the bench
--   counts what was committed on the server, not wrk's answers).
-- wrk calls request() once in the first thread before the run, only to check that it builds
-- a valid request, and never sends it: that call gets a GET, so that no line is skipped.
-- done() prints one line "WRK_JSON {...}" for the bench to read.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end

function init(args)
  local path, total = args[1], tonumber(args[2])
  once = args[3] == "once"
  mine, position, n = {}, 0, 0
  for row in io.lines(path) do
    if n % total == index - 1 then
      local id, version, status = row:match("(%S+) (%d+) (%S+)")
      table.insert(mine, { id = id, version = tonumber(version), status = status })
    end
    n = n + 1
  end
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if index == 1 and not checked then
    checked = true
    return wrk.format("GET", "/healthz")
  end
  if position >= #mine then
    if once then
      wrk.thread:stop()
      return wrk.format("GET", "/healthz")
    end
    position = 0
  end
  position = position + 1
  local line = mine[position]
  local target = line.status == "ongoing" and "on_hold" or "ongoing"
  local body = string.format('{"status":"%s","expected_version":%d}', target, line.version)
  line.status, line.version = target, line.version + 1
  return wrk.format("PATCH", "/action-lines/" .. line.id .. "/status", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_ms":{"p50_ms":%.2f,"p95_ms":%.2f,"p99_ms":%.2f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
