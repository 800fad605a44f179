-- API stubs: the generic runtime behind luacoder.lua.stubs.stub_prelude.
--
-- The prelude is `local D = {...}` (one api.json's data, written by stubs.py) followed by this file. It runs in the
-- sandbox's environment before the user's code, under the same hook and limits. Nothing is built per entry up front:
-- the entries are lines of one string (D.data), found with a plain string.find and decoded the first time code
-- reaches a documented path, method or field, so an api.json with thousands of entries costs little per run.
--
-- Lines of D.data, each "<kind><key>=<value>\n", the kind a control character (\1 E, \2 P, \3 M, \4 T, \5 F, \6 X)
-- that nothing else in the data holds, so that a search visits the lines of its kind only:
--   E<id>=<name>\t<forms>\t<returns>: an entry. Forms are ";"-separated "fewest most codes returns": arguments in the
--     function form (`self` counted for an entry named `Type:m`; most -1: any number); codes "-" (count only) or
--     one per parameter, "."-separated: type bits (1 number, 2 string, 4 boolean, 8 table, 16 function, 32 nil;
--     none: any type), 64 optional, or 128 varargs; returns "-" (the entry's) or "."-separated return specs.
--   A return spec: "n" number, "s" string, "b" boolean, "t" table, "f" function, "z" nil, "a" a value of unknown
--     type, or a type id (an object with that type's methods). No returns at all: an API value of unknown type.
--   P<path>=e:<entry id>,f:<field spec>,t:<type id>,m: a documented path: callable, a field, an object reached by
--     its name, a module with documented children (any of them).
--   M<method>=<entry id> <type word> ...;...: the entries of a method name, with the types they are called on.
--   T<type id>=<label> <type word> ...; F<type word>.<name>=<field spec>; X<type word>=<metamethod>:<entry id>;...
-- D.roots: the globals to install; D.std: the standard library's globals (never replaced, never invented);
-- D.kids[root]: documented members of a standard module that the real one lacks; D.requires[name] = path.

local ENV = _ENV
local setmetatable, getmetatable, rawget, rawset = setmetatable, getmetatable, rawget, rawset
local type, select, error, tostring, tonumber, ipairs, pairs = type, select, error, tostring, tonumber, ipairs, pairs
local sfind, ssub, gmatch, concat, unpack = string.find, string.sub, string.gmatch, table.concat, table.unpack
local stderr = rawget(ENV, "io") and io.stderr
local stderr_write = stderr and stderr.write
local real_require = rawget(ENV, "require")

local DATA, REQUIRES, STD = D.data, D.requires, D.std
local PREFIX = "API error: "

-- ------------------------------------------------------------------------------------------------------------
-- Reading D.data: each kind of line decoded once, on first use.

local KIND = {E = "\1", P = "\2", M = "\3", T = "\4", F = "\5", X = "\6"}
local function line(kind, key)
  if sfind(key, "[^%w_.]") then return nil end  -- no documented name has one: no line to find
  local _, e = sfind(DATA, KIND[kind] .. key .. "=", 1, true)
  if not e then return nil end
  return ssub(DATA, e + 1, sfind(DATA, "\n", e + 1, true) - 1)
end

local function split(text, sep)
  local out = {}
  for part in gmatch(text, "[^" .. sep .. "]+") do out[#out + 1] = part end
  return out
end

local function spec_of(text)  -- a return or field spec: a type id or a letter
  return tonumber(text) or text
end

local function specs(text)
  local out = {}
  for _, part in ipairs(split(text, ".")) do out[#out + 1] = spec_of(part) end
  return out
end

local function cached(decode)
  local memo = {}
  return setmetatable({}, {__index = function(_, key)
    local v = memo[key]
    if v == nil then
      v = decode(key) or false
      memo[key] = v
    end
    return v or nil
  end})
end

local ENTRIES = cached(function(id)  -- {name, forms, returns}; a form = {fewest, most, codes or false, returns or false}
  local fields = split(line("E", id), "\t")
  local forms = {}
  for _, text in ipairs(split(fields[2], ";")) do
    local f = split(text, " ")
    local codes = f[3] ~= "-" and specs(f[3])
    forms[#forms + 1] = {tonumber(f[1]), tonumber(f[2]), codes, f[4] ~= "-" and specs(f[4])}
  end
  return {fields[1], forms, fields[3] and specs(fields[3]) or {}}
end)

local PATHS = cached(function(path)  -- {e = entry id, f = field spec, t = type id, m = true}
  local text = line("P", path)
  if not text then return nil end
  local spec = {}
  for key, value in gmatch(text, "(%a):([^,]*)") do spec[key] = value == "" or spec_of(value) end
  return spec
end)

local METHODS = cached(function(name)  -- {{entry id, type word, ...}, ...}
  local text = line("M", name)
  if not text then return nil end
  local out = {}
  for _, part in ipairs(split(text, ";")) do
    local c = split(part, " ")
    c[1] = tonumber(c[1])
    out[#out + 1] = c
  end
  return out
end)

local TYPES = cached(function(id) return split(line("T", id), " ") end)  -- {label, type word, ...}

local function type_field(tid, k)
  local T = TYPES[tid]
  for j = 2, #T do
    local text = line("F", T[j] .. "." .. k)
    if text then return spec_of(text) end
  end
  return nil
end

local function metamethods(word)  -- {event = entry id}
  local out = {}
  for event, id in gmatch(line("X", word) or "", "([%w_]+):(%d+)") do out[event] = tonumber(id) end
  return out
end

-- ------------------------------------------------------------------------------------------------------------
-- API errors: raised at the caller's line with a fixed prefix, and written to stderr once, so that one the code
-- catches with pcall is still seen (luacoder.lua.stubs.api_error_of reads both).

local said, said_count = {}, 0
local function api_error(message, level)
  if stderr_write and not said[message] and said_count < 20 then
    said[message] = true
    said_count = said_count + 1
    stderr_write(stderr, PREFIX .. message .. "\n")
  end
  error(PREFIX .. message, level)
end

-- ------------------------------------------------------------------------------------------------------------
-- Values of unknown type: whatever the docs do not type. They answer every documented method name (checked as
-- the grader checks a method of an untyped value), take arithmetic, concatenation and comparison, pass every
-- parameter type check, end a loop over them at once, and return nothing when called. `call_error`: calling
-- it is an API error (a documented field; a member the docs do not give a value whose entry documents no returns).
-- `strict`: its members that no type documents are such members.

local ANY = setmetatable({}, {__mode = "k"})  -- value -> {label, call_error or false, strict}
local any_value, method_stub

local function any_result() return any_value("(expression)", false, false) end
local ANY_MT = {
  __index = function(v, k)
    if type(k) ~= "string" then return nil end
    local method = method_stub(nil, k)
    if method then return method end
    local info = ANY[v]
    local label = info[1] .. "." .. k
    local child = any_value(label, info[3] and ("undocumented member " .. label) or false, false)
    rawset(v, k, child)
    return child
  end,
  __call = function(v)
    local message = ANY[v][2]
    if message then api_error(message, 3) end
    return nil
  end,
  __concat = function(a, b) return tostring(a) .. tostring(b) end,
  __lt = function() return false end,
  __le = function() return false end,
  __len = function() return 0 end,
  __tostring = function(v) return ANY[v][1] end,
}
for _, event in ipairs({"__add", "__sub", "__mul", "__div", "__mod", "__pow", "__unm", "__idiv", "__band", "__bor",
                        "__bxor", "__shl", "__shr", "__bnot"}) do
  ANY_MT[event] = any_result
end

function any_value(label, call_error, strict)
  local v = setmetatable({}, ANY_MT)
  ANY[v] = {label, call_error, strict}
  return v
end

-- ------------------------------------------------------------------------------------------------------------
-- Checking a call against every documented form: the argument count first (as the grader counts it), then the
-- simple documented types, trying every way the optional parameters may be left out.

local function accepts(code, v, strict)
  if v == nil then return not strict or code & 96 ~= 0 or code & 31 == 0 end  -- optional, nil allowed, any type
  local mask = code & 31
  if mask == 0 or ANY[v] then return true end
  local t = type(v)
  if t == "number" then return mask & 3 ~= 0 end  -- a number passes for a string, as Lua converts it
  if t == "string" then return mask & 2 ~= 0 or (mask & 1 ~= 0 and tonumber(v) ~= nil) end
  if t == "boolean" then return mask & 4 ~= 0 end
  if t == "function" then return mask & 16 ~= 0 end
  if t == "table" then
    if mask & 8 ~= 0 then return true end
    local mt = getmetatable(v)
    return mask & 16 ~= 0 and type(mt) == "table" and rawget(mt, "__call") ~= nil
  end
  return false
end

local function types_fit(codes, n, args, strict)
  -- The common case first: the arguments in order, the parameters left over optional.
  local in_order = n <= #codes
  for i = 1, #codes do
    local code = codes[i]
    if code == 128 or (i <= n and not accepts(code, args[i], strict)) or (i > n and code & 64 == 0) then
      in_order = false
      break
    end
  end
  if in_order then return true end
  local reach = {[0] = true}  -- reach[j]: the parameters so far can take the first j arguments
  for i = 1, #codes do
    local code, nxt, any = codes[i], {}, false
    if code == 128 then
      for j = 0, n do
        if reach[j] then
          for k = j, n do nxt[k] = true end
          any = true
          break
        end
      end
    else
      local optional = code & 64 ~= 0
      for j = 0, n do
        if reach[j] then
          if optional then nxt[j] = true; any = true end
          if j < n and accepts(code, args[j + 1], strict) then nxt[j + 1] = true; any = true end
        end
      end
    end
    if not any then return false end
    reach = nxt
  end
  return reach[n] == true
end

local function range_text(fewest, most, off)
  fewest = fewest - off
  if fewest < 0 then fewest = 0 end
  if most < 0 then return fewest .. "+" end
  most = most - off
  return most == fewest and tostring(fewest) or (fewest .. "-" .. most)
end

local BITS = {{1, "number"}, {2, "string"}, {4, "boolean"}, {8, "table"}, {16, "function"}, {32, "nil"}}
local function code_text(code)
  if code == 128 then return "..." end
  local parts = {}
  for _, bit in ipairs(BITS) do
    if code & bit[1] ~= 0 then parts[#parts + 1] = bit[2] end
  end
  local text = (code & 31 ~= 0) and concat(parts, "|") or "any"
  return code & 64 ~= 0 and ("[" .. text .. "]") or text
end

local function names_of(ids)
  local out, seen = {}, {}
  for _, id in ipairs(ids) do
    local name = ENTRIES[id][1]
    if not seen[name] then
      seen[name] = true
      out[#out + 1] = name
    end
  end
  if #out > 3 then out = {out[1], out[2], out[3], "..."} end
  return concat(out, " or ")
end

local function counts(f, n) return n >= f[1] and (f[2] < 0 or n <= f[2]) end

local function wanted(ids, n, off)
  local wants = {}
  for _, id in ipairs(ids) do
    for _, f in ipairs(ENTRIES[id][2]) do
      if f[3] and counts(f, n) then
        local params = {}
        for i = off + 1, #f[3] do params[#params + 1] = code_text(f[3][i]) end
        wants[#wants + 1] = "(" .. concat(params, ", ") .. ")"
      end
    end
  end
  return concat(wants, " or ")
end

-- The entry and form a call fits; otherwise an API error at the stub's caller (api_error, fit, the stub, caller).
-- `off` is 1 when the stub was reached as a method: the message counts as the call is written, without `self`.
-- A nil where a form wants a value is the error a real binding raises, not an API error: it is mostly a variable
-- the code (or a doc snippet) expected to be set. One plain table in place of the arguments is Lua's named-arguments
-- idiom (`app.alert{title = "T", text = "..."}`), which docs often show beside the positional form.
local function fit(ids, off, n, ...)
  local args
  local counted_id, counted_form = nil, nil
  for _, id in ipairs(ids) do
    for _, f in ipairs(ENTRIES[id][2]) do
      if counts(f, n) then
        counted_id, counted_form = counted_id or id, counted_form or f
        if not f[3] then return id, f end
        args = args or {...}
        if types_fit(f[3], n, args, true) then return id, f end
      end
    end
  end
  if counted_id and n == off + 1 and type(args[n]) == "table" and getmetatable(args[n]) == nil then
    return counted_id, counted_form
  end
  local shown = n - off < 0 and 0 or n - off
  if not counted_id then
    local ranges, seen = {}, {}
    for _, id in ipairs(ids) do
      for _, f in ipairs(ENTRIES[id][2]) do
        local r = range_text(f[1], f[2], off)
        if not seen[r] then
          seen[r] = true
          ranges[#ranges + 1] = r
        end
      end
    end
    api_error(names_of(ids) .. ": " .. shown .. " argument(s), wants " .. concat(ranges, " or "), 4)
  end
  local got = {}
  for i = off + 1, n do got[#got + 1] = ANY[args[i]] and "any" or type(args[i]) end
  got = "(" .. concat(got, ", ") .. ")"
  for _, id in ipairs(ids) do
    for _, f in ipairs(ENTRIES[id][2]) do
      if f[3] and counts(f, n) and types_fit(f[3], n, args, false) then
        error("bad arguments " .. got .. " to '" .. names_of(ids) .. "': a nil where it wants "
          .. wanted(ids, n, off), 3)
      end
    end
  end
  api_error(names_of(ids) .. ": arguments " .. got .. " fit no documented form: wants " .. wanted(ids, n, off), 4)
end

-- ------------------------------------------------------------------------------------------------------------
-- Values of documented types

local object

local function value_of(spec, label)
  if spec == "n" then return 1 end  -- not 0: code may divide by it
  if spec == "s" then return "" end
  if spec == "b" then return true end
  if spec == "t" then return {} end
  if spec == "f" then return function() end end  -- an iterator that ends at once
  if spec == "z" then return nil end
  if spec == "a" then return any_value(label, false, false) end
  return object(spec)
end

local function field_value(spec, label)
  if spec == "a" then return any_value(label, label .. " is a documented field, not a function", false) end
  return value_of(spec, label)
end

local function results(id, f)
  local rets = f[4] or ENTRIES[id][3]
  local n = #rets
  local label = ENTRIES[id][1] .. "(...)"
  if n == 0 then return any_value(label, false, true) end
  if n == 1 then return value_of(rets[1], label) end
  local out = {}
  for i = 1, n do out[i] = value_of(rets[i], label) end
  return unpack(out, 1, n)
end

-- A documented function: callbacks it is given are never called.
local function stub(ids, off)
  return function(...)
    local id, f = fit(ids, off, select("#", ...), ...)
    return results(id, f)
  end
end

-- The stub of method `k` on a value of type `tid` (nil: of unknown type): that type's own entries, else every
-- documented method of that name (an inherited one), as the grader matches method calls.
local METHOD_STUBS = {}
function method_stub(tid, k)
  local key = (tid or 0) .. ":" .. k
  local cached = METHOD_STUBS[key]
  if cached ~= nil then return cached or nil end
  local candidates = METHODS[k]
  local found = false
  if candidates then
    local ids = {}
    if tid then
      local T = TYPES[tid]
      for _, c in ipairs(candidates) do
        for i = 2, #c do
          for j = 2, #T do
            if c[i] == T[j] then
              ids[#ids + 1] = c[1]
              goto next_candidate
            end
          end
        end
        ::next_candidate::
      end
    end
    if #ids == 0 then
      for _, c in ipairs(candidates) do ids[#ids + 1] = c[1] end
    end
    found = stub(ids, 1)
  end
  METHOD_STUBS[key] = found
  return found or nil
end

-- Documented metamethods: __call checks its arguments, the others return a value of their documented type.
local function metamethod(event, id)
  if event == "__call" then return stub({id}, 1) end
  if event == "__lt" or event == "__le" then return function() return false end end
  local rets = ENTRIES[id][3]
  local spec, label = rets[1] or "a", ENTRIES[id][1] .. "(...)"
  return function() return value_of(spec, label) end
end

local OBJECT_MTS = {}
local function object_mt(tid)
  local mt = OBJECT_MTS[tid]
  if mt then return mt end
  local T = TYPES[tid]
  local label = T[1]
  mt = {__name = label}
  mt.__index = function(o, k)
    if type(k) ~= "string" then return nil end
    local method = method_stub(tid, k)
    if method then return method end
    local spec = type_field(tid, k)
    if spec ~= nil then
      local v = field_value(spec, label .. "." .. k)
      rawset(o, k, v)
      return v
    end
    api_error("undocumented member " .. label .. "." .. k, 3)
  end
  mt.__tostring = function() return label end
  for j = 2, #T do
    for event, id in pairs(metamethods(T[j])) do
      if mt[event] == nil then mt[event] = metamethod(event, id) end
    end
  end
  OBJECT_MTS[tid] = mt
  return mt
end

function object(tid)
  return setmetatable({}, object_mt(tid))
end

-- ------------------------------------------------------------------------------------------------------------
-- Documented paths: modules (`display`, `app.fs`), their functions and fields, objects reached by name

local VALUES = {}  -- path -> its value, the same wherever it is reached (a global, a module's member, require)
local value_at

local function node(path, spec)
  local mt = {__name = path}
  mt.__index = function(t, k)
    if type(k) ~= "string" then return nil end
    local child = path .. "." .. k
    if PATHS[child] then
      local v = value_at(child)
      rawset(t, k, v)
      return v
    end
    if spec.t then
      local method = method_stub(spec.t, k)
      if method then return method end
    end
    api_error("undocumented member " .. child, 3)
  end
  if spec.e then
    local call = stub({spec.e}, 0)
    mt.__call = function(_, ...) return call(...) end
  else
    mt.__call = function() api_error(path .. " is not a documented function", 3) end
  end
  mt.__tostring = function() return path end
  return setmetatable({}, mt)
end

function value_at(path)
  local v = VALUES[path]
  if v ~= nil then return v end
  local spec = PATHS[path]
  if spec.m or spec.t then
    v = node(path, spec)
  elseif spec.e then
    v = stub({spec.e}, 0)
  else
    v = field_value(spec.f, path)
  end
  VALUES[path] = v
  return v
end

-- ------------------------------------------------------------------------------------------------------------
-- Installing: the real standard library wins; documented members it lacks are added to it.

for _, root in ipairs(D.roots) do
  local real = rawget(ENV, root)
  if real ~= nil then
    VALUES[root] = real
    if type(real) == "table" then
      for _, k in ipairs(D.kids[root] or {}) do
        if rawget(real, k) == nil then rawset(real, k, value_at(root .. "." .. k)) end
      end
    end
  elseif not STD[root] then
    rawset(ENV, root, value_at(root))
  end
end

-- `require` loads documented modules: by a `require` name the docs use, by path (`pl.tablex`), by the end of a
-- dotted name (`mp.msg` -> `msg`), and the standard modules; anything else goes to the sandbox's own require.
local function required(name)
  local path = REQUIRES[name] or name
  if VALUES[path] ~= nil then return VALUES[path] end
  if PATHS[path] then return value_at(path) end
  if STD[path] and type(rawget(ENV, path)) == "table" then return rawget(ENV, path) end
  local dot = sfind(path, ".", 1, true)
  while dot do
    path = ssub(path, dot + 1)
    if PATHS[path] then return value_at(path) end
    dot = sfind(path, ".", 1, true)
  end
  return nil
end

if real_require and #D.roots > 0 then
  rawset(ENV, "require", function(name, ...)
    local v = type(name) == "string" and required(name)
    if v ~= nil and v ~= false then return v end
    return real_require(name, ...)
  end)
end
