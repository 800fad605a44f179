-- A luaunit-compatible test module for the sandbox: what `require('luaunit')` returns under the "luaunit" allowance.
--
-- MultiPL-E's Lua tests (HumanEval-Lua) are luaunit scripts: `lu = require('luaunit')`, test functions named
-- test*, `lu.assertEquals(candidate(...), expected)`, and `os.exit(lu.LuaUnit.run())`. The real luaunit 3.4
-- (github.com/bluebird75/luaunit, BSD) needs io, os.getenv, debug.traceback and the command line; this module keeps
-- its semantics where a test's verdict depends on them and nothing else:
-- - assertEquals(actual, expected): tables are equal when every key of each maps to equal values, recursively
--   (luaunit's _is_table_equals: same types, numbers by ==, so 1 == 1.0, cycles matched by position; metatables
--   ignored); other values by type and ==.
-- - a failed assertion raises "LuaUnit test FAILURE: <message>" at the caller's line; any other error is an ERROR.
-- - while tests run, os.exit raises an error (a test cannot end the script with a success).
-- - LuaUnit.run() runs every global whose name starts with "test" (any case): functions, and the test* methods of
--   tables (with setUp/tearDown), in sorted order, prints luaunit's text summary and returns the number of failures
--   plus errors, the status that `os.exit(lu.LuaUnit.run())` ends the script with.
-- It runs as user code in the sandbox's environment, under the sandbox's instruction budget and time limit.

local M = {}
M.VERSION = "3.4"
M._VERSION = M.VERSION
M.ORDER_ACTUAL_EXPECTED = true
M.EPS = 2 ^ -52
M.FAILURE_PREFIX = "LuaUnit test FAILURE: "
M.SUCCESS_PREFIX = "LuaUnit test SUCCESS: "
M.SKIP_PREFIX = "LuaUnit test SKIP:    "

local type, tostring, pairs, ipairs, error, select = type, tostring, pairs, ipairs, error, select
local xpcall, getmetatable, rawget = xpcall, getmetatable, rawget
local sformat, sfind, ssub, slower, srep = string.format, string.find, string.sub, string.lower, string.rep
local tsort, tconcat, abs, huge = table.sort, table.concat, math.abs, math.huge

-- ---------------------------------------------------------------------------------------------------------------
-- Showing values in messages, as luaunit's prettystr does: strings quoted, tables with sorted keys.

local type_order = {number = 1, boolean = 2, string = 3, table = 4}
local function key_before(a, b)
  local ta, tb = type(a), type(b)
  if ta == tb and (ta == "number" or ta == "string") then return a < b end
  if ta == tb then return tostring(a) < tostring(b) end
  return (type_order[ta] or 5) < (type_order[tb] or 5)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  tsort(keys, key_before)
  return keys
end

local prettystr_sub
function prettystr_sub(v, seen)
  local tv = type(v)
  if tv == "string" then
    return sformat("%q", v):gsub("\\\n", "\\n")
  elseif tv == "number" then
    if v ~= v then return "#NaN" end
    if v == huge then return "#Inf" end
    if v == -huge then return "-#Inf" end
    return tostring(v)
  elseif tv ~= "table" then
    return tostring(v)
  end
  local mt = getmetatable(v)
  if type(mt) == "table" and rawget(mt, "__tostring") then return tostring(v) end
  if seen[v] then return "<cycle: " .. tostring(v) .. ">" end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, n do parts[i] = prettystr_sub(v[i], seen) end
  for _, k in ipairs(sorted_keys(v)) do
    if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then
      local shown = type(k) == "string" and sfind(k, "^[%a_][%w_]*$") and k or "[" .. prettystr_sub(k, seen) .. "]"
      parts[#parts + 1] = shown .. "=" .. prettystr_sub(v[k], seen)
    end
  end
  seen[v] = nil
  return "{" .. tconcat(parts, ", ") .. "}"
end

function M.prettystr(v) return (prettystr_sub(v, {})) end
local prettystr = M.prettystr

-- ---------------------------------------------------------------------------------------------------------------
-- Equality, as luaunit 3.4's _is_table_equals.

local function is_table_equals(actual, expected, cycles, margin)
  local ta, te = type(actual), type(expected)
  if ta ~= te then return false end
  if ta == "number" then
    if margin ~= nil then return abs(expected - actual) <= margin end
    return actual == expected
  elseif ta ~= "table" then
    return actual == expected
  end
  cycles = cycles or {actual = {}, expected = {}}
  if cycles.actual[actual] then return cycles.expected[expected] == true end
  if cycles.expected[expected] then return false end
  cycles.actual[actual], cycles.expected[expected] = true, true
  local seen = {}
  local equal = true
  for k, v in pairs(actual) do
    seen[k] = true
    if not is_table_equals(v, expected[k], cycles, margin) then equal = false break end
  end
  if equal then
    for k in pairs(expected) do
      if not seen[k] then equal = false break end
    end
  end
  cycles.actual[actual], cycles.expected[expected] = nil, nil
  return equal
end
M.private = {is_table_equals = function(a, e, margin) return is_table_equals(a, e, nil, margin) end}

-- ---------------------------------------------------------------------------------------------------------------
-- Assertions. `level` 2 in failure() points the error at the line that called the assertion.

local function failure(message, extra, level)
  if type(extra) == "string" and #extra > 0 then message = extra .. "\n" .. message end
  error(M.FAILURE_PREFIX .. message, (level or 1) + 1)
end

local function equality_message(actual, expected)
  if not M.ORDER_ACTUAL_EXPECTED then actual, expected = expected, actual end
  if type(expected) == "string" or type(expected) == "table" then
    return sformat("expected: %s\nactual: %s", prettystr(expected), prettystr(actual))
  end
  return sformat("expected: %s, actual: %s", prettystr(expected), prettystr(actual))
end

local function equal(actual, expected, margin)
  if type(actual) == "table" and type(expected) == "table" then return is_table_equals(actual, expected, nil, margin) end
  if type(actual) ~= type(expected) then return false end
  if margin ~= nil and type(actual) == "number" then return abs(expected - actual) <= margin end
  return actual == expected
end

function M.assertEquals(actual, expected, extra)
  if not equal(actual, expected) then failure(equality_message(actual, expected), extra, 2) end
end

function M.assertNotEquals(actual, expected, extra)
  if equal(actual, expected) then failure("Received the not expected value: " .. prettystr(actual), extra, 2) end
end

function M.almostEquals(actual, expected, margin)
  if type(actual) ~= "number" or type(expected) ~= "number" or type(margin) ~= "number" then
    error("almostEquals: must supply only number arguments", 3)
  end
  return abs(expected - actual) <= margin
end

function M.assertAlmostEquals(actual, expected, margin, extra)
  margin = margin or M.EPS
  if type(actual) == "number" and type(expected) == "number" then
    if not M.almostEquals(actual, expected, margin) then
      failure(sformat("Values are not almost equal\nActual: %s, expected: %s, delta %s above margin of %s",
        actual, expected, abs(actual - expected), margin), extra, 2)
    end
  elseif type(actual) == "table" and type(expected) == "table" then
    if not is_table_equals(actual, expected, nil, margin) then
      failure(equality_message(actual, expected) .. "\nwere not equal by the margin of: " .. prettystr(margin),
        extra, 2)
    end
  else
    error("almostEquals: must supply only number or table arguments", 2)
  end
end

function M.assertNotAlmostEquals(actual, expected, margin, extra)
  margin = margin or M.EPS
  if M.almostEquals(actual, expected, margin) then
    failure(sformat("Values are almost equal\nActual: %s, expected: %s, delta %s below margin of %s",
      actual, expected, abs(actual - expected), margin), extra, 2)
  end
end

local function contains(t, element)
  for _, v in pairs(t) do
    if is_table_equals(v, element) then return true end
  end
  return false
end

function M.assertItemsEquals(actual, expected, extra)
  local same
  if type(actual) == "table" and type(expected) == "table" then
    same = true
    for _, v in pairs(actual) do if not contains(expected, v) then same = false end end
    for _, v in pairs(expected) do if not contains(actual, v) then same = false end end
  else
    same = type(actual) == type(expected) and actual == expected
  end
  if not same then
    failure(sformat("Content of the tables are not identical:\nExpected: %s\nActual: %s",
      prettystr(expected), prettystr(actual)), extra, 2)
  end
end

local function assert_value(test, message)
  return function(value, extra)
    if not test(value) then failure(sformat(message, prettystr(value)), extra, 2) end
  end
end
M.assertTrue = assert_value(function(v) return v == true end, "expected: true, actual: %s")
M.assertFalse = assert_value(function(v) return v == false end, "expected: false, actual: %s")
M.assertEvalToTrue = assert_value(function(v) return v end, "expected: a value evaluating to true, actual: %s")
M.assertEvalToFalse = assert_value(function(v) return not v end, "expected: false or nil, actual: %s")
M.assertNil = assert_value(function(v) return v == nil end, "expected: nil, actual: %s")
M.assertNotNil = assert_value(function(v) return v ~= nil end, "Received the not expected value: %s")
M.assertNaN = assert_value(function(v) return type(v) == "number" and v ~= v end, "expected: NaN, actual: %s")
M.assertInf = assert_value(function(v) return type(v) == "number" and abs(v) == huge end, "expected: #Inf, actual: %s")

for _, name in ipairs({"number", "string", "table", "boolean", "function", "thread", "userdata", "nil"}) do
  local suffix = name == "nil" and "Nil" or (name:sub(1, 1):upper() .. name:sub(2))
  M["assertIs" .. suffix] = assert_value(function(v) return type(v) == name end,
    "expected: a " .. name .. " value, actual: type " .. "%s")
  M["assertNotIs" .. suffix] = assert_value(function(v) return type(v) ~= name end,
    "expected: not a " .. name .. " type, actual: value %s")
end

function M.assertIs(actual, expected, extra)
  if actual ~= expected or type(actual) ~= type(expected) then
    failure(sformat("expected and actual object should not be different\nExpected: %s\nReceived: %s",
      prettystr(expected), prettystr(actual)), extra, 2)
  end
end

function M.assertNotIs(actual, expected, extra)
  if actual == expected and type(actual) == type(expected) then
    failure("expected and actual object should be different: " .. prettystr(expected), extra, 2)
  end
end

function M.assertStrContains(str, sub, is_pattern, extra)
  if not sfind(str, sub, 1, not is_pattern) then
    failure(sformat("Could not find %s %s in string %s", is_pattern and "pattern" or "substring",
      prettystr(sub), prettystr(str)), extra, 2)
  end
end

function M.assertStrIContains(str, sub, extra)
  if not sfind(slower(str), slower(sub), 1, true) then
    failure(sformat("Could not find (case insensitively) substring %s in string %s", prettystr(sub),
      prettystr(str)), extra, 2)
  end
end

function M.assertNotStrContains(str, sub, is_pattern, extra)
  if sfind(str, sub, 1, not is_pattern) then
    failure(sformat("Found the not expected %s %s in string %s", is_pattern and "pattern" or "substring",
      prettystr(sub), prettystr(str)), extra, 2)
  end
end

function M.assertStrMatches(str, pattern, start, final, extra)
  start, final = start or 1, final or #str
  local s, e = sfind(str, pattern, start)
  if not (s == start and e == final) then
    failure(sformat("Could not match pattern %s with string %s", prettystr(pattern), prettystr(str)), extra, 2)
  end
end

function M.assertError(f, ...)
  if pcall(f, ...) then failure("Expected an error when calling function but no error generated", nil, 2) end
end

function M.assertErrorMsgContains(part, f, ...)
  local ok, message = pcall(f, ...)
  if ok then failure("No error generated when calling function but expected error containing: " ..
    prettystr(part), nil, 2) end
  if type(message) ~= "string" then message = prettystr(message) end
  if not sfind(message, part, 1, true) then
    failure(sformat("Error message does not contain: %s\nError message received: %s\n", prettystr(part),
      prettystr(message)), nil, 2)
  end
end

function M.assertErrorMsgEquals(expected, f, ...)
  local ok, message = pcall(f, ...)
  if ok then failure("No error generated when calling function but expected error: " .. prettystr(expected), nil, 2) end
  if message ~= expected then
    failure(sformat("Error message expected: %s\nError message received: %s\n", prettystr(expected),
      prettystr(message)), nil, 2)
  end
end

function M.fail(message) failure(message, nil, 2) end
function M.failIf(condition, message) if condition then failure(message, nil, 2) end end
function M.skip(message) error(M.SKIP_PREFIX .. message, 2) end
function M.skipIf(condition, message) if condition then error(M.SKIP_PREFIX .. message, 2) end end
function M.runOnlyIf(condition, message) if not condition then error(M.SKIP_PREFIX .. prettystr(message), 2) end end
function M.success() error(M.SUCCESS_PREFIX, 2) end
function M.successIf(condition) if condition then error(M.SUCCESS_PREFIX, 2) end end

-- luaunit's other spellings: assert_equals, assertEqual (v2), ...
local aliases = {}
for name, f in pairs(M) do
  if type(f) == "function" and sfind(name, "^assert") then
    aliases[(name:gsub("(%u)", function(c) return "_" .. c:lower() end))] = f
  end
end
for name, f in pairs(aliases) do M[name] = f end
M.assertEqual, M.assertNotEqual = M.assertEquals, M.assertNotEquals

-- ---------------------------------------------------------------------------------------------------------------
-- The runner

-- As luaunit does: while tests run, os.exit is an error, so a candidate that exits with status 0 from inside a
-- test does not pass for a success.
local running = 0
local exit = os.exit
os.exit = function(...)
  if running > 0 then
    error("You are trying to exit but there is still a running instance of LuaUnit. LuaUnit expects to run until "
      .. "the end before exiting with a complete status of successful/failed tests.", 2)
  end
  return exit(...)
end

local function is_test_name(name) return type(name) == "string" and slower(ssub(name, 1, 4)) == "test" end

local function classify(e)
  -- luaunit: the prefix may follow "file:line: "; what comes before it stays in the message.
  if type(e) ~= "string" then return "ERROR", prettystr(e) end
  for _, kind in ipairs({{"FAIL", M.FAILURE_PREFIX}, {"SUCCESS", M.SUCCESS_PREFIX}, {"SKIP", M.SKIP_PREFIX}}) do
    local s, f = sfind(e, kind[2], 1, true)
    if s then return kind[1], ssub(e, 1, s - 1) .. ssub(e, f + 1) end
  end
  return "ERROR", e
end

local function protected(f, instance)
  local ok, e = xpcall(function() f(instance) end, function(e) return e end)
  if ok then return "PASS" end
  return classify(e)
end

local function collect(globals, names)
  local tests = {}
  for _, name in ipairs(names) do
    local value = globals[name]
    if type(value) == "function" then
      tests[#tests + 1] = {name = name, f = value}
    elseif type(value) == "table" then
      for _, method in ipairs(sorted_keys(value)) do
        if is_test_name(method) and type(value[method]) == "function" then
          tests[#tests + 1] = {name = name .. "." .. method, f = value[method], instance = value}
        end
      end
    end
  end
  return tests
end

M.LuaUnit = {instances = {}}

function M.LuaUnit.run(...)
  local globals = _G
  local names = {}
  for i = 1, select("#", ...) do
    local name = select(i, ...)
    if type(name) == "string" and ssub(name, 1, 1) ~= "-" then names[#names + 1] = name end
  end
  if #names == 0 then
    for name in pairs(globals) do
      if is_test_name(name) then names[#names + 1] = name end
    end
    tsort(names)
  end
  local tests = collect(globals, names)
  local start = os.clock()
  local counts = {PASS = 0, FAIL = 0, ERROR = 0, SKIP = 0, SUCCESS = 0}
  local problems, marks = {}, {}
  running = running + 1
  for _, test in ipairs(tests) do
    local status, message = "PASS", nil
    local instance = test.instance
    local setup = instance and (instance.setUp or instance.Setup or instance.setup or instance.SetUp)
    if type(setup) == "function" then status, message = protected(setup, instance) end
    if status == "PASS" then status, message = protected(test.f, instance) end
    local teardown = instance and (instance.tearDown or instance.TearDown or instance.teardown or instance.Teardown)
    if type(teardown) == "function" then
      local after, why = protected(teardown, instance)
      if status == "PASS" and after ~= "PASS" then status, message = after, why end
    end
    if status == "SUCCESS" then status = "PASS" end
    counts[status] = counts[status] + 1
    marks[#marks + 1] = ({PASS = ".", FAIL = "F", ERROR = "E", SKIP = "S"})[status]
    if status == "FAIL" or status == "ERROR" then problems[#problems + 1] = {test.name, status, message} end
  end
  running = running - 1
  print(tconcat(marks))
  if #problems > 0 then
    print("Failed tests:")
    print("-------------")
    for i, p in ipairs(problems) do
      print(sformat("%d) %s", i, p[1]))
      print(tostring(p[3]))
    end
  end
  local bad = counts.FAIL + counts.ERROR
  print(sformat("Ran %d tests in %.3f seconds, %d successes, %d failures, %d errors%s", #tests - counts.SKIP,
    os.clock() - start, counts.PASS, counts.FAIL, counts.ERROR,
    counts.SKIP > 0 and sformat(", %d skipped", counts.SKIP) or ""))
  print(bad == 0 and "OK" or "FAILED")
  return bad
end
M.run = M.LuaUnit.run
M.Run = M.LuaUnit.run

return M
