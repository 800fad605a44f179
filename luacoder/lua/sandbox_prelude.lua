-- The Lua side of the sandbox: builds the whitelist environment and runs one chunk in it.
--
-- Loaded by luacoder/lua/_child.py in a fresh lupa.lua54.LuaRuntime with the chunk name "=[sandbox]" and called
-- once as factory(code, config) -> run_status, collect_output. Every function it defines has that chunk name, which
-- is how the debug allowance tells the sandbox's own functions (never to be inspected by user code) from the user's.

local code, cfg = ...

-- Everything the sandbox needs, taken before any user code runs.
local G = _G
local real_type, real_tostring, real_tonumber = type, tostring, tonumber
local real_select, real_error, real_pcall, real_xpcall = select, error, pcall, xpcall
local real_next, real_pairs, real_ipairs = next, pairs, ipairs
local real_rawget, real_rawset, real_rawequal, real_rawlen = rawget, rawset, rawequal, rawlen
local real_getmt, real_setmt, real_load, real_collect = getmetatable, setmetatable, load, collectgarbage
local real_string, real_table, real_math, real_os, real_coroutine, real_utf8 = string, table, math, os, coroutine, utf8
local real_debug, real_io = debug, io
local sfind, ssub, sformat, sgsub, srep, sbyte, smatch = string.find, string.sub, string.format,
  string.gsub, string.rep, string.byte, string.match
local tconcat, tunpack = table.concat, table.unpack
local mtype, mtointeger, huge = math.type, math.tointeger, math.huge
local clock = os.clock
local running = coroutine.running
local real_getinfo, real_sethook, real_gethook = debug.getinfo, debug.sethook, debug.gethook
local real_getlocal, real_setlocal = debug.getlocal, debug.setlocal
local real_getupvalue, real_setupvalue = debug.getupvalue, debug.setupvalue
local real_upvalueid, real_upvaluejoin = debug.upvalueid, debug.upvaluejoin
local real_traceback, real_dgetmt, real_dsetmt = debug.traceback, debug.getmetatable, debug.setmetatable
local real_getuservalue, real_setuservalue = debug.getuservalue, debug.setuservalue
local SRC = "=[sandbox]"

local allow = {}
for _, name in real_ipairs(cfg.allow or {}) do allow[name] = true end
if cfg.files then allow.files = true end
local instructions = cfg.instructions or 100000000
local time_limit = cfg.timeout or 5
local output_limit = cfg.output_limit or 1000000
local STEP = instructions < 1000 and instructions or 1000

local env = {}

-- Stopping: once the budget, the time or the output is spent, every protected call re-raises.
local stopping = nil
local function stop(reason, message)
  if not stopping then stopping = {reason = reason, message = "sandbox: " .. message} end
  real_error(stopping.message, 0)
end
local function after_protected(...)
  if stopping then real_error(stopping.message, 0) end
  return ...
end

-- ------------------------------------------------------------------------------------------------------------
-- Captured output

local out, err = {n = 0}, {n = 0}
local written = 0
local function emit(buf, s)
  written = written + #s
  if written > output_limit then stop("output", "output limit of " .. output_limit .. " bytes exceeded") end
  buf.n = buf.n + 1
  buf[buf.n] = s
end

local function print_(...)
  local n = real_select("#", ...)
  local args = {...}
  local parts = {}
  for i = 1, n do parts[i] = real_tostring(args[i]) end
  emit(out, tconcat(parts, "\t", 1, n) .. "\n")
end

local warn_on = false
local function warn_(...)
  local n = real_select("#", ...)
  local args = {...}
  if n == 0 then real_error("bad argument #1 to 'warn' (string expected, got no value)", 2) end
  for i = 1, n do
    if real_type(args[i]) ~= "string" then
      real_error("bad argument #" .. i .. " to 'warn' (string expected, got " .. real_type(args[i]) .. ")", 2)
    end
  end
  local msg = tconcat(args, "", 1, n)
  if n == 1 and ssub(msg, 1, 1) == "@" then
    if msg == "@on" then warn_on = true elseif msg == "@off" then warn_on = false end
    return
  end
  if warn_on then emit(err, "Lua warning: " .. msg .. "\n") end
end

-- ------------------------------------------------------------------------------------------------------------
-- Denied functions raise a clear error instead of being silently absent.

local function denied(name, why)
  return function() real_error("sandbox: " .. name .. " is not allowed (" .. why .. ")", 2) end
end

-- ------------------------------------------------------------------------------------------------------------
-- Files: standard streams always; an in-memory file system with the `files` allowance.

local fstate = real_setmt({}, {__mode = "k"})  -- file object -> its state; kept out of the user's reach
local FILE = {}
local FILE_MT = {__index = FILE, __name = "FILE*"}
local vfs = {}  -- name -> {data = string}

local function norm(name)
  while ssub(name, 1, 2) == "./" do name = ssub(name, 3) end
  return name
end

local function new_file(node, mode, kind)
  local f = real_setmt({}, FILE_MT)
  local m = ssub(mode, 1, 1)
  local plus = sfind(mode, "+", 1, true) ~= nil
  fstate[f] = {
    node = node, pos = 0, kind = kind or "file", closed = false,
    readable = m == "r" or plus, writable = m ~= "r" or plus, append = m == "a",
  }
  return f
end

local function tname(v)
  if fstate[v] then return "FILE*" end
  return real_type(v)
end

local function check_file(f, fname)
  local st = fstate[f]
  if not st then
    real_error("bad argument #1 to '" .. fname .. "' (FILE* expected, got " .. tname(f) .. ")", 3)
  end
  if st.closed then real_error("attempt to use a closed file", 3) end
  return st
end

local function read_number(st)
  local data, pos = st.node.data, st.pos
  local buf, n = {}, 0
  local c = ssub(data, pos + 1, pos + 1)
  while c ~= "" and sfind(" \t\n\r\f\v", c, 1, true) do pos = pos + 1; c = ssub(data, pos + 1, pos + 1) end
  local function test(set)
    if c ~= "" and sfind(set, c, 1, true) and n < 200 then
      n = n + 1; buf[n] = c; pos = pos + 1; c = ssub(data, pos + 1, pos + 1)
      return true
    end
    return false
  end
  local function digits(hex)
    local count = 0
    while c ~= "" and n < 200 and (hex and sfind(c, "^%x") or sfind(c, "^%d")) do
      n = n + 1; buf[n] = c; pos = pos + 1; c = ssub(data, pos + 1, pos + 1)
      count = count + 1
    end
    return count
  end
  test("-+")
  local count, hex = 0, false
  if test("0") then
    if test("xX") then hex = true else count = 1 end
  end
  count = count + digits(hex)
  if test(".") then count = count + digits(hex) end
  if count > 0 and test(hex and "pP" or "eE") then
    test("-+")
    digits(false)
  end
  st.pos = pos
  return real_tonumber(tconcat(buf))
end

local function read_one(st, fmt, argn)
  local data, pos = st.node.data, st.pos
  if real_type(fmt) == "number" then
    local k = mtointeger(fmt)
    if not k then real_error("bad argument #" .. argn .. " to 'read' (number has no integer representation)", 4) end
    if k <= 0 then return pos < #data and "" or nil end
    local chunk = ssub(data, pos + 1, pos + k)
    st.pos = pos + #chunk
    return chunk ~= "" and chunk or nil
  end
  if real_type(fmt) ~= "string" then
    real_error("bad argument #" .. argn .. " to 'read' (invalid format)", 4)
  end
  local p = ssub(fmt, 1, 1) == "*" and ssub(fmt, 2, 2) or ssub(fmt, 1, 1)
  if p == "n" then return read_number(st) end
  if p == "a" then st.pos = #data; return ssub(data, pos + 1) end
  if p == "l" or p == "L" then
    if pos >= #data then return nil end
    local e = sfind(data, "\n", pos + 1, true)
    if e then
      st.pos = e
      return ssub(data, pos + 1, p == "L" and e or e - 1)
    end
    st.pos = #data
    return ssub(data, pos + 1)
  end
  real_error("bad argument #" .. argn .. " to 'read' (invalid format)", 4)
end

local function do_read(st, first, ...)
  if not st.readable then return nil, "Bad file descriptor", 9 end
  local n = real_select("#", ...)
  local fmts = {...}
  if n == 0 then return read_one(st, "l", first) end
  local results = {}
  for i = 1, n do
    local v = read_one(st, fmts[i], first + i - 1)
    results[i] = v
    if v == nil then return tunpack(results, 1, i) end
  end
  return tunpack(results, 1, n)
end

local function to_text(v, i, fname)
  local t = real_type(v)
  if t == "string" then return v end
  if t == "number" then
    if mtype(v) == "integer" then return sformat("%d", v) end
    return sformat("%.14g", v)
  end
  real_error("bad argument #" .. i .. " to '" .. fname .. "' (string expected, got " .. tname(v) .. ")", 3)
end

local function do_write(f, st, first, ...)
  local n = real_select("#", ...)
  local args = {...}
  local parts = {}
  for i = 1, n do parts[i] = to_text(args[i], first + i - 1, "write") end
  local s = tconcat(parts, "", 1, n)
  if st.kind == "stdout" then emit(out, s); return f end
  if st.kind == "stderr" then emit(err, s); return f end
  if not st.writable then return nil, "Bad file descriptor", 9 end
  local node = st.node
  local data = node.data
  if st.append then st.pos = #data end
  if #data + #s > output_limit * 16 then stop("output", "in-memory file system is full") end
  if st.pos > #data then data = data .. srep("\0", st.pos - #data) end
  node.data = ssub(data, 1, st.pos) .. s .. ssub(data, st.pos + #s + 1)
  st.pos = st.pos + #s
  return f
end

function FILE.read(f, ...) return do_read(check_file(f, "read"), 1, ...) end
function FILE.write(f, ...) return do_write(f, check_file(f, "write"), 1, ...) end
function FILE.flush(f) check_file(f, "flush"); return f end
function FILE.setvbuf(f, mode, size)
  check_file(f, "setvbuf")
  if mode ~= "no" and mode ~= "full" and mode ~= "line" then
    real_error("bad argument #1 to 'setvbuf' (invalid option '" .. real_tostring(mode) .. "')", 2)
  end
  return true
end
function FILE.seek(f, whence, offset)
  local st = check_file(f, "seek")
  whence = whence or "cur"
  offset = offset or 0
  if real_type(offset) ~= "number" or not mtointeger(offset) then
    real_error("bad argument #2 to 'seek' (number has no integer representation)", 2)
  end
  local base
  if whence == "set" then base = 0 elseif whence == "cur" then base = st.pos
  elseif whence == "end" then base = #st.node.data
  else real_error("bad argument #1 to 'seek' (invalid option '" .. real_tostring(whence) .. "')", 2) end
  local pos = base + mtointeger(offset)
  if pos < 0 then return nil, "Invalid argument", 22 end
  st.pos = pos
  return pos
end
function FILE.close(f)
  local st = check_file(f, "close")
  if st.kind ~= "file" then return nil, "cannot close standard file" end
  st.closed = true
  return true
end
local function lines_iter(f, st, close_at_end, fmts, nfmt)
  return function()
    if st.closed then real_error("file is already closed", 2) end
    local r = {do_read(st, 1, tunpack(fmts, 1, nfmt))}
    if r[1] == nil and close_at_end then st.closed = true end
    return tunpack(r, 1, nfmt > 0 and nfmt or 1)
  end
end
function FILE.lines(f, ...)
  local st = check_file(f, "lines")
  return lines_iter(f, st, false, {...}, real_select("#", ...))
end
FILE_MT.__tostring = function(f)
  local st = fstate[f]
  if st and st.closed then return "file (closed)" end
  return sformat("file (%p)", f)
end
FILE_MT.__close = function(f)
  local st = fstate[f]
  if st and not st.closed and st.kind == "file" then st.closed = true end
end

local stdin = new_file({data = ""}, "r", "stdin")
local stdout = new_file({data = ""}, "w", "stdout")
local stderr = new_file({data = ""}, "w", "stderr")
local default_in, default_out = stdin, stdout

local function open(name, mode)
  if real_type(name) ~= "string" then
    real_error("bad argument #1 to 'open' (string expected, got " .. tname(name) .. ")", 2)
  end
  mode = mode or "r"
  if real_type(mode) ~= "string" or not smatch(mode, "^[rwa]%+?b*$") then
    real_error("bad argument #2 to 'open' (invalid mode)", 2)
  end
  local key = norm(name)
  local node = vfs[key]
  local m = ssub(mode, 1, 1)
  if m == "r" then
    if not node then return nil, name .. ": No such file or directory", 2 end
  elseif m == "w" then
    node = node or {}
    node.data = ""
    vfs[key] = node
  else
    node = node or {data = ""}
    vfs[key] = node
  end
  return new_file(node, mode)
end

local function open_or_fail(name, mode)
  local f, msg = open(name, mode)
  if not f then real_error(msg, 3) end
  return f
end

local io_ = {stdin = stdin, stdout = stdout, stderr = stderr}
function io_.write(...) return do_write(default_out, check_file(default_out, "write"), 1, ...) end
function io_.read(...) return do_read(check_file(default_in, "read"), 1, ...) end
function io_.type(v)
  local st = fstate[v]
  if not st then return nil end
  return st.closed and "closed file" or "file"
end
if allow.files then
  io_.open = open
  function io_.tmpfile() return new_file({data = ""}, "w+") end
  function io_.input(v)
    if v == nil then return default_in end
    default_in = fstate[v] and v or open_or_fail(v, "r")
    return default_in
  end
  function io_.output(v)
    if v == nil then return default_out end
    default_out = fstate[v] and v or open_or_fail(v, "w")
    return default_out
  end
  function io_.lines(name, ...)
    if name == nil then
      return lines_iter(default_in, check_file(default_in, "lines"), false, {...}, real_select("#", ...))
    end
    local f = open_or_fail(name, "r")
    return lines_iter(f, fstate[f], true, {...}, real_select("#", ...)), nil, nil, f
  end
else
  local why = "file access is disabled; the sandbox offers an in-memory file system with files="
  io_.open = denied("io.open", why)
  io_.tmpfile = denied("io.tmpfile", why)
  function io_.input(v)
    if v == nil then return default_in end
    if fstate[v] then default_in = v; return v end
    denied("io.input with a file name", why)()
  end
  function io_.output(v)
    if v == nil then return default_out end
    if fstate[v] then default_out = v; return v end
    denied("io.output with a file name", why)()
  end
  function io_.lines(name, ...)
    if name ~= nil then denied("io.lines with a file name", why)() end
    return lines_iter(default_in, check_file(default_in, "lines"), false, {...}, real_select("#", ...))
  end
end
function io_.flush() return FILE.flush(default_out) end
function io_.close(f)
  if f == nil then f = default_out end
  return FILE.close(f)
end
io_.popen = denied("io.popen", "no processes")

-- ------------------------------------------------------------------------------------------------------------
-- Loading code: text only, in the sandbox's environment unless the caller gives one.

local function load_(...)
  local chunk, chunkname, mode, e = ...
  if mode ~= nil and (real_type(mode) ~= "string" or not sfind(mode, "t", 1, true)) then
    return nil, "attempt to load a binary chunk (mode is '" .. real_tostring(mode) .. "')"
  end
  if chunkname == SRC then chunkname = "=?" end
  if real_select("#", ...) < 4 then e = env end
  return real_load(chunk, chunkname, "t", e)
end

local function loadfile_(...)
  local name, mode, e = ...
  if real_select("#", ...) < 3 then e = env end
  if mode ~= nil and (real_type(mode) ~= "string" or not sfind(mode, "t", 1, true)) then
    return nil, "attempt to load a binary chunk (mode is '" .. real_tostring(mode) .. "')"
  end
  local text
  if name == nil then
    text = stdin and fstate[stdin].node.data or ""
    name = "=stdin"
  else
    if real_type(name) ~= "string" then
      real_error("bad argument #1 to 'loadfile' (string expected, got " .. tname(name) .. ")", 2)
    end
    local node = vfs[norm(name)]
    if not node then return nil, "cannot open " .. name end
    text = node.data
    name = "@" .. name
  end
  if ssub(text, 1, 1) == "#" then text = "--" .. text end  -- a first line such as #!/usr/bin/lua
  return real_load(text, name, "t", e)
end

local function dofile_(name)
  local f, msg = loadfile_(name)
  if not f then real_error(msg, 2) end
  return f()
end

-- ------------------------------------------------------------------------------------------------------------
-- Modules: require over package.preload, package.loaded and (with files) Lua sources in the in-memory files.

local package_, LOADED, PRELOAD
local function searchpath(name, path, sep, rep)
  if real_type(name) ~= "string" then real_error("bad argument #1 to 'searchpath' (string expected)", 2) end
  if real_type(path) ~= "string" then real_error("bad argument #2 to 'searchpath' (string expected)", 2) end
  sep, rep = sep or ".", rep or "/"
  if sep ~= "" then name = sgsub(name, sgsub(sep, "%p", "%%%0"), (sgsub(rep, "%%", "%%%%"))) end
  local tried = {}
  local start = 1
  while start <= #path + 1 do
    local stop_at = sfind(path, ";", start, true) or (#path + 1)
    local template = ssub(path, start, stop_at - 1)
    start = stop_at + 1
    if template ~= "" then
      local filename = sgsub(template, "%?", (sgsub(name, "%%", "%%%%")))
      if vfs[norm(filename)] then return filename end
      tried[#tried + 1] = "no file '" .. filename .. "'"
    end
  end
  return nil, tconcat(tried, "\n\t")
end

-- The luaunit allowance: `require('luaunit')` gives the sandbox's own luaunit-compatible module (luaunit.lua beside
-- this file, passed in cfg.luaunit), loaded as user code; with "modules" it is in package.preload.
local function luaunit_loader()
  local chunk, lerr = real_load(cfg.luaunit, "@luaunit.lua", "t", env)
  if not chunk then real_error(lerr, 0) end
  return chunk
end

if allow.modules then
  LOADED, PRELOAD = {}, {}
  if allow.luaunit then PRELOAD.luaunit = luaunit_loader() end
  package_ = {
    config = "/\n;\n?\n!\n-\n",
    path = "./?.lua;./?/init.lua",
    cpath = "./?.so",
    loaded = LOADED,
    preload = PRELOAD,
    searchpath = searchpath,
  }
  function package_.loadlib(path, init)
    return nil, "dynamic libraries are not enabled in the sandbox", "absent"
  end
  local function search_preload(name)
    local f = PRELOAD[name]
    if f == nil then return "no field package.preload['" .. name .. "']" end
    return f, ":preload:"
  end
  local function search_lua(name)
    local path = package_.path
    if real_type(path) ~= "string" then real_error("'package.path' must be a string", 3) end
    local filename, msg = searchpath(name, path)
    if not filename then return msg end
    local f, lerr = loadfile_(filename)
    if not f then
      real_error("error loading module '" .. name .. "' from file '" .. filename .. "':\n\t" .. lerr, 3)
    end
    return f, filename
  end
  local function search_c(name)
    local path = package_.cpath
    if real_type(path) ~= "string" then real_error("'package.cpath' must be a string", 3) end
    local _, msg = searchpath(name, path)
    return msg
  end
  package_.searchers = {search_preload, search_lua, search_c, function() return "" end}
  env.require = function(name)
    if real_type(name) ~= "string" then
      real_error("bad argument #1 to 'require' (string expected, got " .. tname(name) .. ")", 2)
    end
    local v = LOADED[name]
    if v then return v end
    local searchers = package_.searchers
    if real_type(searchers) ~= "table" then real_error("'package.searchers' must be a table", 2) end
    local msgs = {}
    for i = 1, huge do
      local searcher = searchers[i]
      if searcher == nil then
        real_error("module '" .. name .. "' not found:" .. tconcat(msgs), 2)
      end
      local loader, extra = searcher(name)
      if real_type(loader) == "function" then
        local r = loader(name, extra)
        if r ~= nil then LOADED[name] = r elseif LOADED[name] == nil then LOADED[name] = true end
        return LOADED[name], extra
      elseif real_type(loader) == "string" then
        msgs[#msgs + 1] = "\n\t" .. loader
      end
    end
  end
elseif allow.luaunit then
  local luaunit
  env.require = function(name)
    if name ~= "luaunit" then
      real_error("module '" .. real_tostring(name) .. "' not found (the sandbox offers only 'luaunit')", 2)
    end
    if luaunit == nil then luaunit = luaunit_loader()("luaunit") or true end
    return luaunit
  end
else
  env.require = denied("require", "modules are disabled")
end

-- ------------------------------------------------------------------------------------------------------------
-- The instruction budget and the time limit: a count hook on every thread (coroutine_.create and .wrap set it).

local deadline = clock() + time_limit
local user_hooks = real_setmt({}, {__mode = "k"})  -- thread -> {fn, mask, count, acc}: the debug allowance
local spent = 0

local function master_hook(event, line)
  local co = running()
  local uh = user_hooks[co]
  if event == "count" then
    local _, _, step = real_gethook()
    spent = spent + (step or STEP)
    if not stopping then
      if spent >= instructions then
        local message = "sandbox: instruction budget of " .. instructions .. " exceeded"
        stopping = {reason = "instructions", message = message}
      elseif clock() > deadline then
        stopping = {reason = "timeout", message = "sandbox: time limit of " .. time_limit .. " s exceeded"}
      end
    end
    if stopping then
      real_sethook(master_hook, "", 1)  -- from now on every instruction of user code in this thread fails
      if real_getinfo(2, "S").source ~= SRC then real_error(stopping.message, 0) end
      return
    end
    if uh and uh.count > 0 then
      uh.acc = uh.acc + (step or STEP)
      if uh.acc >= uh.count then
        uh.acc = 0
        return uh.fn("count")
      end
    end
    return
  end
  if stopping then
    if real_getinfo(2, "S").source ~= SRC then real_error(stopping.message, 0) end
    return
  end
  if uh and sfind(uh.mask, ssub(event, 1, 1), 1, true) then
    return uh.fn(event, line)  -- a tail call: inside the user's hook, level 2 is the running function
  end
end

-- ------------------------------------------------------------------------------------------------------------
-- The debug allowance: inspection of the user's own functions, never of the sandbox's.

local privileged = {}  -- every function reachable from the registry before the sandbox hands anything out
do
  local seen = {}
  local function sweep(t, depth)
    if seen[t] or depth > 4 then return end
    seen[t] = true
    for k, v in real_next, t do
      if real_type(v) == "function" then privileged[v] = true
      elseif real_type(v) == "table" then sweep(v, depth + 1) end
      if real_type(k) == "table" then sweep(k, depth + 1) end
    end
    local mt = real_getmt(t)
    if real_type(mt) == "table" then sweep(mt, depth + 1) end
  end
  sweep(real_debug.getregistry(), 0)
  sweep(G, 0)
  local mt = real_dgetmt(real_io.stdout)
  if mt then sweep(mt, 0) end
end

local function hidden(f)
  if real_type(f) ~= "function" then return false end
  if privileged[f] then return true end
  local info = real_getinfo(f, "S")
  return info ~= nil and info.source == SRC
end

local debug_
if allow.debug then
  debug_ = {}
  -- Levels seen from the caller of a wrapper below: one more, unless the caller tail-called the wrapper
  -- (`return debug.getlocal(2, i)`), which then took the caller's frame, as a C function would not.
  local function shift(lv)
    return real_getinfo(2, "t").istailcall and lv or lv + 1
  end
  function debug_.traceback(...)
    local a = ...
    if real_type(a) == "thread" then return real_traceback(...) end
    local msg, level = ...
    if msg ~= nil and real_type(msg) ~= "string" and real_type(msg) ~= "number" then return msg end
    return real_traceback(msg, shift(level or 1))
  end
  function debug_.getinfo(...)
    local a = ...
    local info
    if real_type(a) == "thread" then
      local co, lv, what = ...
      if real_type(lv) == "function" then info = real_getinfo(lv, what or "flnSrtu")
      else info = real_getinfo(co, lv, what or "flnSrtu") end
    elseif real_type(a) == "function" then
      local f, what = ...
      info = real_getinfo(f, what or "flnSrtu")
    else
      local lv, what = ...
      if real_type(lv) ~= "number" then
        real_error("bad argument #1 to 'getinfo' (function or level expected)", 2)
      end
      info = real_getinfo(shift(lv), what or "flnSrtu")
    end
    if info and info.func ~= nil and hidden(info.func) then
      info.func = nil
      info.activelines = nil
    end
    return info
  end
  local function frame_of(co, lv, name, argn)
    if real_type(lv) ~= "number" then
      real_error("bad argument #" .. argn .. " to '" .. name .. "' (number expected, got " .. tname(lv) .. ")", 3)
    end
  end
  function debug_.getlocal(...)
    local a = ...
    if real_type(a) == "thread" then
      local co, lv, n = ...
      if real_type(lv) == "function" then
        if hidden(lv) then return nil end
        return (real_getlocal(co, lv, n))
      end
      frame_of(co, lv, "getlocal", 2)
      local info = real_getinfo(co, lv, "f")
      if not info then real_error("bad argument #2 to 'getlocal' (level out of range)", 2) end
      if hidden(info.func) then return nil end
      local name, value = real_getlocal(co, lv, n)
      return name, value
    end
    local lv, n = ...
    if real_type(lv) == "function" then
      if hidden(lv) then return nil end
      return (real_getlocal(lv, n))
    end
    frame_of(nil, lv, "getlocal", 1)
    lv = shift(lv)
    local info = real_getinfo(lv, "f")
    if not info then real_error("bad argument #1 to 'getlocal' (level out of range)", 2) end
    if hidden(info.func) then return nil end
    local name, value = real_getlocal(lv, n)
    return name, value
  end
  function debug_.setlocal(...)
    local a = ...
    if real_type(a) == "thread" then
      local co, lv, n, v = ...
      frame_of(co, lv, "setlocal", 2)
      local info = real_getinfo(co, lv, "f")
      if not info then real_error("bad argument #2 to 'setlocal' (level out of range)", 2) end
      if hidden(info.func) then return nil end
      local name = real_setlocal(co, lv, n, v)
      return name
    end
    local lv, n, v = ...
    frame_of(nil, lv, "setlocal", 1)
    lv = shift(lv)
    local info = real_getinfo(lv, "f")
    if not info then real_error("bad argument #1 to 'setlocal' (level out of range)", 2) end
    if hidden(info.func) then return nil end
    local name = real_setlocal(lv, n, v)
    return name
  end
  function debug_.getupvalue(f, n)
    if hidden(f) then return nil end
    return real_getupvalue(f, n)
  end
  function debug_.setupvalue(f, n, v)
    if hidden(f) then return nil end
    return real_setupvalue(f, n, v)
  end
  function debug_.upvalueid(f, n)
    if hidden(f) then return nil end
    return real_upvalueid(f, n)
  end
  function debug_.upvaluejoin(f1, n1, f2, n2)
    if hidden(f1) or hidden(f2) then
      real_error("sandbox: debug.upvaluejoin on a function of the sandbox is not allowed", 2)
    end
    return real_upvaluejoin(f1, n1, f2, n2)
  end
  debug_.getmetatable = real_dgetmt
  debug_.setmetatable = real_dsetmt
  function debug_.getuservalue(u, n)
    if fstate[u] then return nil end
    return real_getuservalue(u, n)
  end
  function debug_.setuservalue(u, v, n)
    if fstate[u] then return nil end
    if real_type(u) ~= "userdata" then
      real_error("bad argument #1 to 'debug.setuservalue' (userdata expected, got " .. tname(u) .. ")", 2)
    end
    return real_setuservalue(u, v, n)
  end
  function debug_.sethook(...)
    local co = ...
    local args
    if real_type(co) == "thread" then args = {real_select(2, ...)} else co = running(); args = {...} end
    local fn, mask, count = args[1], args[2], args[3]
    if fn == nil then
      user_hooks[co] = nil
      real_sethook(co, master_hook, "", STEP)
      return
    end
    if real_type(fn) ~= "function" then
      real_error("bad argument #1 to 'sethook' (function expected, got " .. tname(fn) .. ")", 2)
    end
    if real_type(mask) ~= "string" then
      real_error("bad argument #2 to 'sethook' (string expected, got " .. tname(mask) .. ")", 2)
    end
    count = mtointeger(count or 0) or 0
    local real_mask = ""
    for _, c in real_ipairs({"c", "r", "l"}) do
      if sfind(mask, c, 1, true) then real_mask = real_mask .. c end
    end
    user_hooks[co] = {fn = fn, mask = mask, count = count, acc = 0}
    local step = (count > 0 and count < STEP) and count or STEP
    real_sethook(co, master_hook, real_mask, step)
  end
  function debug_.gethook(co)
    local uh = user_hooks[co or running()]
    if not uh then return nil end
    return uh.fn, uh.mask, uh.count
  end
  function debug_.debug() end  -- the sandbox's stdin is empty: the real one would return at once
  debug_.setcstacklimit = real_debug.setcstacklimit
end

-- ------------------------------------------------------------------------------------------------------------
-- The environment

local function copy(t, leave_out)
  local c = {}
  for k, v in real_pairs(t) do
    if not (leave_out and leave_out[k]) then c[k] = v end
  end
  return c
end

local string_ = copy(real_string, {dump = true})
string_.dump = nil
local coroutine_ = copy(real_coroutine)
function coroutine_.resume(...) return after_protected(real_coroutine.resume(...)) end
if real_coroutine.close then
  function coroutine_.close(...) return after_protected(real_coroutine.close(...)) end
end
-- A new coroutine inherits Lua's C hook but not debug.sethook's function (kept per thread): without its own
-- master_hook it would run uncounted. Each gets the creator's hook settings, counted against the one budget.
local function hook_settings()
  local _, mask, step = real_gethook()
  return mask or "", step or STEP, user_hooks[running()]
end
local function hook_thread(co, mask, step, uh)
  if uh then user_hooks[co] = {fn = uh.fn, mask = uh.mask, count = uh.count, acc = 0} end
  real_sethook(co, master_hook, mask, (step and step > 0) and step or STEP)
end
function coroutine_.create(f)
  local co = real_coroutine.create(f)
  hook_thread(co, hook_settings())
  return co
end
function coroutine_.wrap(f)
  if real_type(f) ~= "function" then
    real_error("bad argument #1 to 'wrap' (function expected, got " .. tname(f) .. ")", 2)
  end
  local mask, step, uh = hook_settings()
  -- The real wrap keeps its error and close semantics; the coroutine hooks itself before the user's code runs.
  return real_coroutine.wrap(function(...)
    hook_thread(running(), mask, step, uh)
    return f(...)
  end)
end

local os_ = {
  clock = real_os.clock, date = real_os.date, difftime = real_os.difftime, time = real_os.time,
}
function os_.getenv(name)
  if real_type(name) ~= "string" then
    real_error("bad argument #1 to 'getenv' (string expected, got " .. tname(name) .. ")", 2)
  end
  return nil  -- the sandbox has no environment variables: they may hold secrets
end
function os_.setlocale(locale, category)
  if locale == nil or locale == "C" or locale == "POSIX" then return real_os.setlocale(locale, category) end
  if real_type(locale) ~= "string" then
    real_error("bad argument #1 to 'setlocale' (string expected, got " .. tname(locale) .. ")", 2)
  end
  return nil
end
os_.execute = denied("os.execute", "no processes")
if allow.files then
  function os_.remove(name)
    if real_type(name) ~= "string" then
      real_error("bad argument #1 to 'remove' (string expected, got " .. tname(name) .. ")", 2)
    end
    local key = norm(name)
    if not vfs[key] then return nil, name .. ": No such file or directory", 2 end
    vfs[key] = nil
    return true
  end
  function os_.rename(from, to)
    if real_type(from) ~= "string" or real_type(to) ~= "string" then
      real_error("bad argument to 'rename' (string expected)", 2)
    end
    local a, b = norm(from), norm(to)
    if not vfs[a] then return nil, "No such file or directory", 2 end  -- as the C library says it
    vfs[b], vfs[a] = vfs[a], nil
    if a == b then vfs[a] = vfs[b] end
    return true
  end
  local tmp_count = 0
  function os_.tmpname()
    tmp_count = tmp_count + 1
    local name = sformat("/tmp/lua_sandbox_%d", tmp_count)
    vfs[norm(name)] = {data = ""}
    return name
  end
else
  local why = "file access is disabled; the sandbox offers an in-memory file system with files="
  os_.remove = denied("os.remove", why)
  os_.rename = denied("os.rename", why)
  os_.tmpname = denied("os.tmpname", why)
end
if allow.exit then
  function os_.exit(status)
    local code = 0
    if status == nil or status == true then code = 0
    elseif status == false then code = 1
    else code = mtointeger(status) or 1 end
    stopping = {reason = "exit", message = "sandbox: os.exit(" .. code .. ")", code = code}
    real_error(stopping.message, 0)
  end
else
  os_.exit = denied("os.exit", "a script may not end its interpreter")
end

-- Switching or stepping the collector is tuning: only collecting, counting and asking remain.
local collect_ok = {collect = true, count = true, isrunning = true, restart = true}
local function collectgarbage_(opt, ...)
  if opt == nil then opt = "collect" end
  if not collect_ok[opt] then
    real_error("bad argument #1 to 'collectgarbage' (option '" .. real_tostring(opt) ..
      "' is not allowed in the sandbox)", 2)
  end
  return real_collect(opt, ...)
end

local function type_(...)
  if real_select("#", ...) > 0 and fstate[(...)] then return "userdata" end
  return real_type(...)
end

for _, name in real_ipairs({
  "assert", "error", "getmetatable", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen", "rawset",
  "select", "setmetatable", "tonumber", "tostring", "_VERSION",
}) do
  env[name] = G[name]
end
env.type = type_
env.print = print_
env.warn = warn_
env.pcall = function(...) return after_protected(real_pcall(...)) end
env.xpcall = function(...) return after_protected(real_xpcall(...)) end
env.load = load_
env.collectgarbage = collectgarbage_
if allow.files then
  env.loadfile = loadfile_
  env.dofile = dofile_
else
  env.loadfile = denied("loadfile", "file access is disabled")
  env.dofile = denied("dofile", "file access is disabled")
end
env.string = string_
env.table = copy(real_table)
env.math = copy(real_math)
env.utf8 = copy(real_utf8)
env.coroutine = coroutine_
env.os = os_
env.io = io_
env.debug = debug_
env.package = package_
env._G = env
if LOADED then
  for _, name in real_ipairs({"string", "table", "math", "utf8", "coroutine", "os", "io", "debug", "package"}) do
    LOADED[name] = env[name]
  end
  LOADED._G = env
end

-- The string methods ("x"):rep(3) are the sandbox's string table, without string.dump.
real_getmt("").__index = string_

for name, content in real_pairs(cfg.files or {}) do
  vfs[norm(name)] = {data = content}
end

-- ------------------------------------------------------------------------------------------------------------
-- Run

local status = {ok = false}
-- The job's prelude (API stubs) runs first, in the same environment, under the same hook and limits.
local prelude_failed = nil
if cfg.prelude then
  local pchunk, perr = real_load(cfg.prelude, "=[prelude]", "t", env)
  if pchunk then
    real_sethook(master_hook, "", STEP)
    local ok, e = real_pcall(pchunk)
    real_sethook()
    -- Only a string or a number is shown: an error object's __tostring would run outside the hook.
    if not ok then perr = (real_type(e) == "string" or real_type(e) == "number") and e
      or "(error object is a " .. real_type(e) .. " value)" end
  end
  if stopping then
    prelude_failed = {reason = stopping.reason, error = stopping.message}
  elseif perr then
    perr = real_tostring(perr)
    local reason = sfind(perr, "not enough memory", 1, true) and "memory" or "prelude"
    prelude_failed = {reason = reason, error = "sandbox: the prelude failed: " .. perr}
  end
end
local chunk, syntax_error = real_load(code, cfg.chunkname or "=input", "t", env)
if prelude_failed then
  status.reason = prelude_failed.reason
  status.error = prelude_failed.error
elseif not chunk then
  status.reason = "syntax"
  status.error = syntax_error
else
  real_sethook(master_hook, "", STEP)
  local ok, e = real_pcall(chunk)
  if not ok and not stopping and real_type(e) ~= "string" and real_type(e) ~= "number" then
    -- An error object: shown with its __tostring, still under the budget, as the standalone interpreter does.
    local mt = real_getmt(e)
    local text = "(error object is a " .. real_type(e) .. " value)"
    if real_type(mt) == "table" and real_rawget(mt, "__tostring") then
      local tok, shown = real_pcall(real_tostring, e)
      if tok and real_type(shown) == "string" then text = shown end
    end
    e = text
  end
  real_sethook()
  if stopping then
    status.reason = stopping.reason
    status.error = stopping.message
    if stopping.reason == "exit" then
      status.ok = stopping.code == 0
      status.exit_code = stopping.code
      status.error = (not status.ok) and stopping.message or nil
    end
  elseif ok then
    status.ok = true
  else
    e = real_tostring(e)
    status.reason = sfind(e, "not enough memory", 1, true) and "memory" or "error"
    status.error = e
  end
end
status.instructions = spent

local function collect_output()
  return tconcat(out, "", 1, out.n), tconcat(err, "", 1, err.n)
end
return status, collect_output
