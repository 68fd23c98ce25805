-- wrk script for factmark's benchmark (bench/load.py writes the data file it reads).
--
-- Data file, one "key value" per line:
--   mode get|create     GET the paths in turn, or POST a claim with one random span
--   nonce <text>        makes Idempotency-Keys unique across runs
--   doclen <n>          create: spans fall in [0, n)
--   token <bearer>      repeated: requests rotate over the tokens
--   path <path>         repeated: GET paths, or the POST paths of the documents
-- Prints one line "BENCH_JSON {...}" with counts and latency percentiles in microseconds.

local mode = "get"
local nonce = "x"
local doclen = 1000
local tokens = {}
local paths = {}
local counter = 0
local threads = {}

non2xx = 0

function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end

function init(args)
    for line in io.lines(args[1]) do
        local key, value = line:match("^(%S+) (.*)$")
        if key == "mode" then mode = value
        elseif key == "nonce" then nonce = value
        elseif key == "doclen" then doclen = tonumber(value)
        elseif key == "token" then table.insert(tokens, value)
        elseif key == "path" then table.insert(paths, value)
        end
    end
    math.randomseed(os.time() + (tid or 0) * 7919)
end

function request()
    counter = counter + 1
    local headers = {}
    headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]
    if mode == "create" then
        local start = math.random(0, doclen - 130)
        local stop = start + math.random(20, 120)
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = string.format("%s-%d-%d", nonce, tid or 0, counter)
        local body = string.format('{"spans":[{"start":%d,"end":%d}]}', start, stop)
        return wrk.format("POST", paths[math.random(#paths)], headers, body)
    end
    return wrk.format("GET", paths[(counter % #paths) + 1], headers)
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    end
end

function done(summary, latency, requests)
    local bad = 0
    for _, thread in ipairs(threads) do
        bad = bad + (thread:get("non2xx") or 0)
    end
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,' ..
        '"p50":%d,"p95":%d,"p99":%d,"mean":%.1f,"max":%d}\n',
        summary.requests, summary.duration, bad, e.connect + e.read + e.write + e.timeout,
        latency:percentile(50), latency:percentile(95), latency:percentile(99),
        latency.mean, latency.max))
end
