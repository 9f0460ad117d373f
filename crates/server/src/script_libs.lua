-- Tandem's versions of the `bit`, `cjson`, `cmsgpack` and `struct` libraries Redis offers to
-- scripts, written in Lua for this project: the same functions, results and error
-- messages as LuaBitOp, lua-cjson and lua-cmsgpack in redis-server 7.0.15 (checked by
-- tests/diff/scripting.txt).
-- Loaded by script.rs with the JSON null (a light userdata) as argument.
local null = ...
local floor, fmt, byte, char, sub = math.floor, string.format, string.byte, string.char, string.sub
local type, pairs, tostring, tonumber, error, select = type, pairs, tostring, tonumber, error, select
local pcall = pcall

---------------------------------------------------------------------------------------
-- bit: 32-bit operations on numbers.

local TWO32 = 4294967296

-- A number as LuaBitOp reads it: rounded (ties to even), wrapped to 32 bits, unsigned.
local function u32(x)
  local r = floor(x + 0.5)
  if r - x == 0.5 and r % 2 ~= 0 then r = r - 1 end
  return r % TWO32
end

local function signed(u)
  if u >= 2147483648 then return u - TWO32 end
  return u
end

-- Errors are raised without a position: script.rs wraps every library function in a
-- native one that adds the script's line (a Lua wrapper would lose it to tail calls).
local function checknum(name, i, v)
  local n = tonumber(v)
  if n == nil then
    local got = (v == nil) and 'no value' or type(v)
    error("bad argument #" .. i .. " to '" .. name .. "' (number expected, got " .. got .. ")", 0)
  end
  return u32(n)
end

-- a OP b bit by bit; op(x, y) on single bits.
local function bitwise(a, b, op)
  local r, p = 0, 1
  for _ = 1, 32 do
    local x, y = a % 2, b % 2
    if op(x, y) then r = r + p end
    a, b, p = (a - x) / 2, (b - y) / 2, p * 2
  end
  return r
end

local function fold(name, op, ...)
  local n = select('#', ...)
  local acc = checknum(name, 1, (...))
  for i = 2, n do
    acc = bitwise(acc, checknum(name, i, (select(i, ...))), op)
  end
  return signed(acc)
end

local function shift_count(name, n)
  return checknum(name, 2, n) % 32
end

bit = {}
bit.tobit = function(x) return signed(checknum('tobit', 1, x)) end
bit.bnot = function(x) return signed(TWO32 - 1 - checknum('bnot', 1, x)) end
bit.band = function(...) return fold('band', function(x, y) return x == 1 and y == 1 end, ...) end
bit.bor = function(...) return fold('bor', function(x, y) return x == 1 or y == 1 end, ...) end
bit.bxor = function(...) return fold('bxor', function(x, y) return x ~= y end, ...) end
bit.lshift = function(x, n)
  local v, s = checknum('lshift', 1, x), shift_count('lshift', n)
  return signed((v * 2 ^ s) % TWO32)
end
bit.rshift = function(x, n)
  local v, s = checknum('rshift', 1, x), shift_count('rshift', n)
  return signed(floor(v / 2 ^ s))
end
bit.arshift = function(x, n)
  local v, s = checknum('arshift', 1, x), shift_count('arshift', n)
  return floor(signed(v) / 2 ^ s)
end
bit.rol = function(x, n)
  local v, s = checknum('rol', 1, x), shift_count('rol', n)
  return signed((v * 2 ^ s) % TWO32 + floor(v / 2 ^ (32 - s)))
end
bit.ror = function(x, n)
  local v, s = checknum('ror', 1, x), shift_count('ror', n)
  return signed(floor(v / 2 ^ s) + (v * 2 ^ (32 - s)) % TWO32)
end
bit.bswap = function(x)
  local v = checknum('bswap', 1, x)
  local b0, b1, b2, b3 = v % 256, floor(v / 256) % 256, floor(v / 65536) % 256, floor(v / 16777216)
  return signed(((b0 * 256 + b1) * 256 + b2) * 256 + b3)
end
bit.tohex = function(x, n)
  local v = checknum('tohex', 1, x)
  n = (n == nil) and 8 or signed(checknum('tohex', 2, n))
  local digits = '0123456789abcdef'
  if n < 0 then n = -n; digits = '0123456789ABCDEF' end
  if n > 8 then n = 8 end
  local out = ''
  for _ = 1, n do
    local d = v % 16
    out = sub(digits, d + 1, d + 1) .. out
    v = (v - d) / 16
  end
  return out
end

---------------------------------------------------------------------------------------
-- cjson: JSON encoding and decoding.

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['/'] = '\\/', ['\b'] = '\\b',
  ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function escape_char(c)
  return escapes[c] or fmt('\\u%04x', byte(c))
end

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\/\127]', escape_char) .. '"'
end

-- `cfg` is the module's configuration (see `new_cjson`).
local function encode_number(n, cfg)
  if n ~= n or n == math.huge or n == -math.huge then
    if cfg.encode_invalid_numbers == 0 then
      error('Cannot serialise number: must not be NaN or Inf', 0)
    elseif cfg.encode_invalid_numbers == 2 then
      return 'null'
    end
    if n ~= n then return 'nan' end
    return n > 0 and 'inf' or '-inf'
  end
  return fmt(cfg.number_fmt, n)
end

-- lua-cjson's array test: only positive integer keys, and not too sparse. Its largest
-- key is a C int: a key past that range (an infinity) stores as the int minimum, and
-- the table is then written as an object.
local function array_length(t, cfg)
  local max, count = 0, 0
  for k in pairs(t) do
    if type(k) == 'number' and k > 0 and floor(k) == k then
      if k > max then max = (k <= 2147483647) and k or -2147483648 end
      count = count + 1
    else
      return -1
    end
  end
  if cfg.sparse_ratio > 0 and max > count * cfg.sparse_ratio and max > cfg.sparse_safe then
    if cfg.sparse_convert == 0 then
      error('Cannot serialise table: excessively sparse array', 0)
    end
    return -1
  end
  return max
end

local encode_value

local function encode_table(t, depth, out, cfg)
  if depth > cfg.encode_max_depth then
    error('Cannot serialise, excessive nesting (' .. depth .. ')', 0)
  end
  local len = array_length(t, cfg)
  if len > 0 then
    out[#out + 1] = '['
    for i = 1, len do
      if i > 1 then out[#out + 1] = ',' end
      encode_value(t[i], depth, out, cfg)
    end
    out[#out + 1] = ']'
    return
  end
  out[#out + 1] = '{'
  local first = true
  for k, v in pairs(t) do
    if not first then out[#out + 1] = ',' end
    first = false
    local kt = type(k)
    if kt == 'string' then
      out[#out + 1] = encode_string(k)
    elseif kt == 'number' then
      out[#out + 1] = '"' .. encode_number(k, cfg) .. '"'
    else
      error('Cannot serialise ' .. kt .. ': table key must be a number or string', 0)
    end
    out[#out + 1] = ':'
    encode_value(v, depth, out, cfg)
  end
  out[#out + 1] = '}'
end

encode_value = function(v, depth, out, cfg)
  local t = type(v)
  if t == 'string' then
    out[#out + 1] = encode_string(v)
  elseif t == 'number' then
    out[#out + 1] = encode_number(v, cfg)
  elseif t == 'boolean' then
    out[#out + 1] = tostring(v)
  elseif t == 'nil' or v == null then
    out[#out + 1] = 'null'
  elseif t == 'table' then
    encode_table(v, depth + 1, out, cfg)
  else
    error('Cannot serialise ' .. t .. ': type not supported', 0)
  end
end

-- Where a number's mantissa and exponent end in `text` from `p`: digits of `class`, an
-- optional '.' and fraction digits (at least one digit in all), then an exponent
-- matching `exponent` if there is one. nil without a digit.
local function mantissa_end(text, p, class, exponent)
  local digits = text:match('^' .. class .. '*', p)
  local q = p + #digits
  local fraction = ''
  if sub(text, q, q) == '.' then fraction = text:match('^' .. class .. '*', q + 1) end
  if #digits + #fraction == 0 then return nil end
  if sub(text, q, q) == '.' then q = q + 1 + #fraction end
  local e = text:match(exponent, q)
  if e then q = q + #e end
  return q
end

-- How many bytes of `text` from `pos` C's strtod would read as a number (0: none):
-- an optional sign, then inf/infinity, nan (with an optional "(chars)"), a hex number
-- (0x digits, fraction, p exponent) or a decimal one (digits, fraction, e exponent).
local function strtod_length(text, pos)
  local p = pos
  local c = sub(text, p, p)
  if c == '+' or c == '-' then p = p + 1 end
  local word = string.lower(sub(text, p, p + 7))
  if word == 'infinity' then return p + 8 - pos end
  if sub(word, 1, 3) == 'inf' then return p + 3 - pos end
  if sub(word, 1, 3) == 'nan' then
    local q = p + 3
    local chars = text:match('^%(([%w_]*)%)', q)
    if chars then q = q + #chars + 2 end
    return q - pos
  end
  if sub(text, p, p) == '0' and (sub(text, p + 1, p + 1) == 'x' or sub(text, p + 1, p + 1) == 'X') then
    -- "0x" without a hex digit is the number 0.
    local q = mantissa_end(text, p + 2, '%x', '^[pP][%+%-]?%d+') or p + 1
    return q - pos
  end
  local q = mantissa_end(text, p, '%d', '^[eE][%+%-]?%d+')
  return q and q - pos or 0
end

-- lua-cjson's test for a number JSON does not allow: a leading '+', hex, leading zeros,
-- inf and nan.
local function invalid_number_at(text, pos)
  local p = pos
  local c = sub(text, p, p)
  if c == '+' then return true end
  if c == '-' then p = p + 1 end
  local d = sub(text, p, p)
  if d == '0' then
    local d2 = sub(text, p + 1, p + 1)
    return d2 == 'x' or d2 == 'X' or (d2 ~= '' and d2 >= '0' and d2 <= '9')
  end
  if d == '' or byte(d) <= 57 then return false end
  local three = string.lower(sub(text, p, p + 2))
  return three == 'inf' or three == 'nan'
end

-- The decoder: a tokenizer over the text and a recursive reader, with lua-cjson's
-- messages ("Expected <what> but found <token> at character <n>").
local function decode(text, cfg)
  local pos = 1
  local len = #text

  local function number_token(at)
    local n = strtod_length(text, pos)
    if n == 0 then return 'invalid number', nil, at end
    local value = tonumber(sub(text, pos, pos + n - 1))
    if value == nil then return 'invalid number', nil, at end
    pos = pos + n
    return 'T_NUMBER', value, at
  end

  local function skip()
    while pos <= len do
      local c = byte(text, pos)
      if c == 32 or c == 9 or c == 10 or c == 13 then pos = pos + 1 else return end
    end
  end

  -- The next token: kind, value, and where it starts.
  local function token()
    skip()
    local at = pos
    if pos > len then return 'T_END', nil, at end
    local c = sub(text, pos, pos)
    if c == '{' then pos = pos + 1 return 'T_OBJ_BEGIN', nil, at end
    if c == '}' then pos = pos + 1 return 'T_OBJ_END', nil, at end
    if c == '[' then pos = pos + 1 return 'T_ARR_BEGIN', nil, at end
    if c == ']' then pos = pos + 1 return 'T_ARR_END', nil, at end
    if c == ',' then pos = pos + 1 return 'T_COMMA', nil, at end
    if c == ':' then pos = pos + 1 return 'T_COLON', nil, at end
    if c == '"' then
      local parts = {}
      pos = pos + 1
      while true do
        if pos > len then return 'invalid token', nil, at end
        local ch = sub(text, pos, pos)
        if ch == '"' then pos = pos + 1 break end
        if ch == '\\' then
          local e = sub(text, pos + 1, pos + 1)
          local simple = ({ ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f',
            n = '\n', r = '\r', t = '\t' })[e]
          if simple then
            parts[#parts + 1] = simple
            pos = pos + 2
          elseif e == 'u' then
            local code = tonumber(sub(text, pos + 2, pos + 5), 16)
            if code == nil then return 'invalid escape code', nil, at end
            pos = pos + 6
            if code >= 0xD800 and code <= 0xDBFF and sub(text, pos, pos + 1) == '\\u' then
              local low = tonumber(sub(text, pos + 2, pos + 5), 16)
              if low and low >= 0xDC00 and low <= 0xDFFF then
                code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
                pos = pos + 6
              end
            end
            if code < 0x80 then
              parts[#parts + 1] = char(code)
            elseif code < 0x800 then
              parts[#parts + 1] = char(0xC0 + floor(code / 64), 0x80 + code % 64)
            elseif code < 0x10000 then
              parts[#parts + 1] = char(0xE0 + floor(code / 4096), 0x80 + floor(code / 64) % 64,
                0x80 + code % 64)
            else
              parts[#parts + 1] = char(0xF0 + floor(code / 262144), 0x80 + floor(code / 4096) % 64,
                0x80 + floor(code / 64) % 64, 0x80 + code % 64)
            end
          else
            return 'invalid escape code', nil, at
          end
        else
          parts[#parts + 1] = ch
          pos = pos + 1
        end
      end
      return 'T_STRING', table.concat(parts), at
    end
    -- As lua-cjson: a sign or digit starts a number, read as C's strtod reads it (so
    -- NaN, Infinity, hex and a leading '+' or zero are numbers too: Redis leaves
    -- decode_invalid_numbers on); true/false/null are matched as prefixes.
    local b = byte(text, pos)
    if b == 45 or (b >= 48 and b <= 57) then
      if cfg.decode_invalid_numbers == 0 and invalid_number_at(text, pos) then
        return 'invalid number', nil, at
      end
      return number_token(at)
    end
    if sub(text, pos, pos + 3) == 'true' then pos = pos + 4 return 'T_BOOLEAN', true, at end
    if sub(text, pos, pos + 4) == 'false' then pos = pos + 5 return 'T_BOOLEAN', false, at end
    if sub(text, pos, pos + 3) == 'null' then pos = pos + 4 return 'T_NULL', null, at end
    if cfg.decode_invalid_numbers == 1 and (b == 43 or b == 73 or b == 105 or b == 78 or b == 110) then
      -- '+', 'I', 'i', 'N', 'n': a number only if it looks like an invalid one.
      if invalid_number_at(text, pos) then return number_token(at) end
    end
    return 'invalid token', nil, at
  end

  local function fail(what, kind, at)
    error('Expected ' .. what .. ' but found ' .. kind .. ' at character ' .. at, 0)
  end

  local read_value

  local function read_object(depth)
    local obj = {}
    local kind, value, at = token()
    if kind == 'T_OBJ_END' then return obj end
    while true do
      if kind ~= 'T_STRING' then fail('object key string', kind, at) end
      local key = value
      kind, value, at = token()
      if kind ~= 'T_COLON' then fail('colon', kind, at) end
      obj[key] = read_value(depth, token())
      kind, value, at = token()
      if kind == 'T_OBJ_END' then return obj end
      if kind ~= 'T_COMMA' then fail('comma or object end', kind, at) end
      kind, value, at = token()
    end
  end

  local function read_array(depth)
    local arr = {}
    local kind, value, at = token()
    if kind == 'T_ARR_END' then return arr end
    local i = 1
    while true do
      arr[i] = read_value(depth, kind, value, at)
      i = i + 1
      kind, value, at = token()
      if kind == 'T_ARR_END' then return arr end
      if kind ~= 'T_COMMA' then fail('comma or array end', kind, at) end
      kind, value, at = token()
    end
  end

  read_value = function(depth, kind, value, at)
    if kind == 'T_STRING' or kind == 'T_NUMBER' or kind == 'T_BOOLEAN' or kind == 'T_NULL' then
      return value
    end
    if kind == 'T_OBJ_BEGIN' or kind == 'T_ARR_BEGIN' then
      if depth >= cfg.decode_max_depth then
        error('Found too many nested data structures (' .. (depth + 1) .. ') at character ' .. at, 0)
      end
      if kind == 'T_OBJ_BEGIN' then return read_object(depth + 1) end
      return read_array(depth + 1)
    end
    fail('value', kind, at)
  end

  local result = read_value(0, token())
  local kind, _, at = token()
  if kind ~= 'T_END' then fail('the end', kind, at) end
  return result
end

local function one_argument(name, n)
  if n ~= 1 then error("bad argument #1 to '" .. name .. "' (expected 1 argument)", 0) end
end

-- The configuration functions' argument checks, worded as lua-cjson's.
local function at_most(name, max, n)
  if n > max then
    error("bad argument #" .. (max + 1) .. " to '" .. name .. "' (found too many arguments)", 0)
  end
end

-- luaL_checkinteger, then lua-cjson's range check (which always names argument #1).
local function integer_option(name, index, min, max, current, v)
  if v == nil then return current end
  local n = tonumber(v)
  if n == nil or (type(v) ~= 'number' and type(v) ~= 'string') then
    error("bad argument #" .. index .. " to '" .. name .. "' (number expected, got " .. type(v) .. ")", 0)
  end
  n = n >= 0 and floor(n) or -floor(-n)
  if n < min or n > max then
    error("bad argument #1 to '" .. name .. "' (expected integer between " .. min .. " and " .. max .. ")", 0)
  end
  return n
end

-- A boolean, or one of `options` by name (luaL_checkoption): the setting's index.
local function enum_option(name, index, options, current, v)
  if v == nil then return current end
  if type(v) == 'boolean' then return v and 1 or 0 end
  if type(v) ~= 'string' and type(v) ~= 'number' then
    error("bad argument #" .. index .. " to '" .. name .. "' (string expected, got " .. type(v) .. ")", 0)
  end
  local text = tostring(v)
  for i, option in ipairs(options) do
    if option == text then return i - 1 end
  end
  error("bad argument #" .. index .. " to '" .. name .. "' (invalid option '" .. text .. "')", 0)
end

-- What an enum setting reads back as: false, true, or its name past "on".
local function enum_value(options, setting)
  if setting <= 1 then return setting == 1 end
  return options[setting + 1]
end

local on_off = { 'off', 'on' }
local invalid_numbers = { 'off', 'on', 'null' }

-- One cjson module with its own configuration, as lua-cjson's `new` makes them (the
-- global `cjson` is one; its settings last until SCRIPT FLUSH, as in Redis). Modules
-- made by `new` raise their errors without the script's line.
local function new_cjson()
  -- Keyed by the function that reads and sets each (`number_fmt` follows the precision).
  local cfg = { encode_max_depth = 1000, decode_max_depth = 1000, encode_number_precision = 14,
    number_fmt = '%.14g', encode_keep_buffer = 1, encode_invalid_numbers = 0,
    decode_invalid_numbers = 1, sparse_convert = 0, sparse_ratio = 2, sparse_safe = 10 }
  -- lua-cjson's one-argument settings: an integer in 1..max, or an enum of `options`.
  local function integer_setting(name, max)
    return function(...)
      at_most(name, 1, select('#', ...))
      cfg[name] = integer_option(name, 1, 1, max, cfg[name], ...)
      return cfg[name]
    end
  end
  local function enum_setting(name, options)
    return function(...)
      at_most(name, 1, select('#', ...))
      cfg[name] = enum_option(name, 1, options, cfg[name], ...)
      return enum_value(options, cfg[name])
    end
  end
  local m = { null = null, _NAME = 'cjson', _VERSION = '2.1.0' }
  m.encode = function(...)
    one_argument('encode', select('#', ...))
    local v = ...
    local out = {}
    encode_value(v, 0, out, cfg)
    return table.concat(out)
  end
  m.decode = function(...)
    one_argument('decode', select('#', ...))
    local s = ...
    local t = type(s)
    if t == 'number' then
      s = tostring(s)
    elseif t ~= 'string' then
      local got = (s == nil) and 'no value' or t
      error("bad argument #1 to 'decode' (string expected, got " .. got .. ")", 0)
    end
    return decode(s, cfg)
  end
  m.encode_max_depth = integer_setting('encode_max_depth', 2147483647)
  m.decode_max_depth = integer_setting('decode_max_depth', 2147483647)
  local set_precision = integer_setting('encode_number_precision', 14)
  m.encode_number_precision = function(...)
    local precision = set_precision(...)
    cfg.number_fmt = '%.' .. precision .. 'g'
    return precision
  end
  m.encode_keep_buffer = enum_setting('encode_keep_buffer', on_off)
  m.encode_invalid_numbers = enum_setting('encode_invalid_numbers', invalid_numbers)
  m.decode_invalid_numbers = enum_setting('decode_invalid_numbers', on_off)
  m.encode_sparse_array = function(...)
    at_most('encode_sparse_array', 3, select('#', ...))
    local convert, ratio, safe = ...
    cfg.sparse_convert = enum_option('encode_sparse_array', 1, on_off, cfg.sparse_convert, convert)
    cfg.sparse_ratio = integer_option('encode_sparse_array', 2, 0, 2147483647, cfg.sparse_ratio, ratio)
    cfg.sparse_safe = integer_option('encode_sparse_array', 3, 0, 2147483647, cfg.sparse_safe, safe)
    return enum_value(on_off, cfg.sparse_convert), cfg.sparse_ratio, cfg.sparse_safe
  end
  m.new = new_cjson
  return m
end
cjson = new_cjson()

---------------------------------------------------------------------------------------
-- cmsgpack: MessagePack as lua-cmsgpack in Redis writes and reads it (no bin or ext
-- types; tables nested deeper than 16 are written as nil).

local function be_bytes(n, count)
  local t = {}
  for i = count, 1, -1 do
    local b = n % 256
    t[i] = char(b)
    n = (n - b) / 256
  end
  return table.concat(t)
end

local function pack_integer(n)
  if n >= 0 then
    if n <= 127 then return char(n) end
    if n <= 0xff then return '\204' .. char(n) end
    if n <= 0xffff then return '\205' .. be_bytes(n, 2) end
    if n <= 0xffffffff then return '\206' .. be_bytes(n, 4) end
    local high = floor(n / TWO32)
    return '\207' .. be_bytes(high, 4) .. be_bytes(n - high * TWO32, 4)
  end
  if n >= -32 then return char(256 + n) end
  if n >= -128 then return '\208' .. char(256 + n) end
  if n >= -32768 then return '\209' .. be_bytes(65536 + n, 2) end
  if n >= -2147483648 then return '\210' .. be_bytes(TWO32 + n, 4) end
  local high = floor(n / TWO32)
  return '\211' .. be_bytes(high + TWO32, 4) .. be_bytes(n - high * TWO32, 4)
end

-- The four bytes of `a` (> 0, finite) as a float32 when it is exactly one, else nil.
local function float32_bits(a)
  local m, e = math.frexp(a)
  local exp = e + 126
  local frac
  if exp >= 255 then return nil end
  if exp <= 0 then
    exp, frac = 0, a / 2 ^ -149
  else
    frac = (m * 2 - 1) * 2 ^ 23
  end
  if frac ~= floor(frac) then return nil end
  return exp * 2 ^ 23 + frac
end

local function pack_number(n)
  if n == floor(n) and n >= -2 ^ 63 and n < 2 ^ 63 then
    return pack_integer(n)
  end
  if n ~= n then return '\203\255\248\0\0\0\0\0\0' end
  local sign = (n < 0) and 1 or 0
  local a = math.abs(n)
  if a == math.huge then return '\202' .. be_bytes(sign * 2 ^ 31 + 0x7f800000, 4) end
  local bits = float32_bits(a)
  if bits then return '\202' .. be_bytes(sign * 2 ^ 31 + bits, 4) end
  local m, e = math.frexp(a)
  local exp, frac = e + 1022, (m * 2 - 1) * 2 ^ 52
  if exp <= 0 then exp, frac = 0, a / 2 ^ -1074 end
  local high = sign * 2 ^ 31 + exp * 2 ^ 20 + floor(frac / TWO32)
  return '\203' .. be_bytes(high, 4) .. be_bytes(frac % TWO32, 4)
end

local function pack_length(n, fix, fixmax, c16, c32, c8)
  if n <= fixmax then return char(fix + n) end
  if c8 and n <= 0xff then return c8 .. char(n) end
  if n <= 0xffff then return c16 .. be_bytes(n, 2) end
  return c32 .. be_bytes(n, 4)
end

local pack_value

local function pack_table(t, level, out)
  local count, max, is_array = 0, 0, true
  for k in pairs(t) do
    count = count + 1
    if type(k) == 'number' and k >= 1 and k == floor(k) then
      if k > max then max = k end
    else
      is_array = false
    end
  end
  if is_array and count == max then
    out[#out + 1] = pack_length(count, 0x90, 15, '\220', '\221')
    for i = 1, count do pack_value(t[i], level + 1, out) end
    return
  end
  out[#out + 1] = pack_length(count, 0x80, 15, '\222', '\223')
  for k, v in pairs(t) do
    pack_value(k, level + 1, out)
    pack_value(v, level + 1, out)
  end
end

pack_value = function(v, level, out)
  local t = type(v)
  if t == 'table' and level == 16 then t = 'nil' end
  if t == 'string' then
    out[#out + 1] = pack_length(#v, 0xa0, 31, '\218', '\219', '\217') .. v
  elseif t == 'number' then
    out[#out + 1] = pack_number(v)
  elseif t == 'boolean' then
    out[#out + 1] = v and '\195' or '\194'
  elseif t == 'table' then
    pack_table(v, level, out)
  else
    out[#out + 1] = '\192'
  end
end

-- The reader: values from `s` at byte `pos` (1-based); errors as lua-cmsgpack's.
local function unpacker(s)
  local pos, len = 1, #s
  local function need(n)
    if pos + n - 1 > len then error('Missing bytes in input.', 0) end
  end
  local function uint(n)
    need(n)
    local v = 0
    for i = pos, pos + n - 1 do v = v * 256 + byte(s, i) end
    pos = pos + n
    return v
  end
  local function int(n)
    local v = uint(n)
    if v >= 2 ^ (8 * n - 1) then v = v - 2 ^ (8 * n) end
    return v
  end
  local function str(n)
    need(n)
    local v = sub(s, pos, pos + n - 1)
    pos = pos + n
    return v
  end
  local read
  local function array(n)
    local t = {}
    for i = 1, n do t[i] = read() end
    return t
  end
  local function map(n)
    local t = {}
    for _ = 1, n do
      local k = read()
      t[k] = read()
    end
    return t
  end
  read = function()
    need(1)
    local c = byte(s, pos)
    pos = pos + 1
    if c <= 0x7f then return c end
    if c <= 0x8f then return map(c - 0x80) end
    if c <= 0x9f then return array(c - 0x90) end
    if c <= 0xbf then return str(c - 0xa0) end
    if c >= 0xe0 then return c - 256 end
    if c == 0xc0 then return nil end
    if c == 0xc2 then return false end
    if c == 0xc3 then return true end
    if c == 0xca then
      local bits = uint(4)
      local sign = (bits >= 2 ^ 31) and -1 or 1
      local exp, frac = floor(bits / 2 ^ 23) % 256, bits % 2 ^ 23
      if exp == 255 then return (frac == 0) and sign * math.huge or 0 / 0 end
      if exp == 0 then return sign * frac * 2 ^ -149 end
      return sign * (1 + frac / 2 ^ 23) * 2 ^ (exp - 127)
    end
    if c == 0xcb then
      local high, low = uint(4), uint(4)
      local sign = (high >= 2 ^ 31) and -1 or 1
      local exp = floor(high / 2 ^ 20) % 2048
      local frac = (high % 2 ^ 20) * TWO32 + low
      if exp == 2047 then return (frac == 0) and sign * math.huge or 0 / 0 end
      if exp == 0 then return sign * frac * 2 ^ -1074 end
      return sign * (1 + frac / 2 ^ 52) * 2 ^ (exp - 1023)
    end
    if c == 0xcc then return uint(1) end
    if c == 0xcd then return uint(2) end
    if c == 0xce then return uint(4) end
    if c == 0xcf then local h = uint(4) return h * TWO32 + uint(4) end
    if c == 0xd0 then return int(1) end
    if c == 0xd1 then return int(2) end
    if c == 0xd2 then return int(4) end
    if c == 0xd3 then local h = int(4) return h * TWO32 + uint(4) end
    if c == 0xd9 then return str(uint(1)) end
    if c == 0xda then return str(uint(2)) end
    if c == 0xdb then return str(uint(4)) end
    if c == 0xdc then return array(uint(2)) end
    if c == 0xdd then return array(uint(4)) end
    if c == 0xde then return map(uint(2)) end
    if c == 0xdf then return map(uint(4)) end
    error('Bad data format in input.', 0)
  end
  return read, function() return pos end, function(p) pos = p end
end

-- lua-cmsgpack's unpack core: up to `limit` values (0: all) from byte `offset`
-- (0-based). With neither, only the values; else the next offset (-1 at the end) first.
local function unpack_full(name, s, limit, offset)
  local t = type(s)
  if t == 'number' then
    s = tostring(s)
  elseif t ~= 'string' then
    local got = (s == nil) and 'no value' or t
    error("bad argument #1 to '" .. name .. "' (string expected, got " .. got .. ")", 0)
  end
  if offset > #s then
    error('Start offset ' .. offset .. ' greater than input length ' .. #s .. '.', 0)
  end
  local read, at, seek = unpacker(s)
  seek(offset + 1)
  local values, n = {}, 0
  while at() <= #s and (limit == 0 or n < limit) do
    n = n + 1
    values[n] = read()
  end
  if limit == 0 and offset == 0 then return unpack(values, 1, n) end
  local next_offset = (at() > #s) and -1 or (at() - 1)
  return next_offset, unpack(values, 1, n)
end

cmsgpack = {}
cmsgpack._NAME = 'cmsgpack'
cmsgpack._VERSION = 'lua-cmsgpack 0.4.0'
cmsgpack._COPYRIGHT = 'Copyright (C) 2012, Salvatore Sanfilippo'
cmsgpack._DESCRIPTION = 'MessagePack C implementation for Lua'
cmsgpack.pack = function(...)
  local n = select('#', ...)
  if n == 0 then
    error("bad argument #0 to 'pack' (MessagePack pack needs input.)", 0)
  end
  local out = {}
  for i = 1, n do pack_value((select(i, ...)), 0, out) end
  return table.concat(out)
end
cmsgpack.unpack = function(s) return unpack_full('unpack', s, 0, 0) end
cmsgpack.unpack_one = function(s, offset)
  return unpack_full('unpack_one', s, 1, tonumber(offset) or 0)
end
cmsgpack.unpack_limit = function(s, limit, offset)
  return unpack_full('unpack_limit', s, tonumber(limit) or 0, tonumber(offset) or 0)
end

---------------------------------------------------------------------------------------
-- struct: binary packing as lua-struct in Redis (pack, unpack, size). Integers are
-- 64-bit in C there; here a 64-bit value is kept as two exact 32-bit halves, so that
-- the one rounding to a Lua number happens where C's cast does it.

local BIG, LITTLE = 0, 1
local MAXINTSIZE, MAXALIGN = 32, 8

-- Digits at `i` of `f` as a number (`df` when there are none), and the next index.
local function getnum(f, i, df)
  local d = f:match('^%d+', i)
  if not d then return df, i end
  local a = 0
  for k = 1, #d do
    local c = byte(d, k) - 48
    if a > floor(2147483647 / 10) or a * 10 > 2147483647 - c then
      error('integral size overflow', 0)
    end
    a = a * 10 + c
  end
  return a, i + #d
end

local function optsize(opt, f, i)
  if opt == 'B' or opt == 'b' or opt == 'x' then return 1, i end
  if opt == 'H' or opt == 'h' then return 2, i end
  if opt == 'L' or opt == 'l' or opt == 'T' or opt == 'd' then return 8, i end
  if opt == 'f' then return 4, i end
  if opt == 'c' then return getnum(f, i, 1) end
  if opt == 'i' or opt == 'I' then
    local sz
    sz, i = getnum(f, i, 4)
    if sz > MAXINTSIZE then
      error('integral size ' .. sz .. ' is larger than limit of ' .. MAXINTSIZE, 0)
    end
    return sz, i
  end
  return 0, i
end

local function band(a, b) return bitwise(a, b, function(x, y) return x == 1 and y == 1 end) end

local function gettoalign(len, h, opt, size)
  if size == 0 or opt == 'c' then return 0 end
  if size > h.align then size = h.align end
  return band(size - band(len, size - 1), size - 1)
end

local function controloptions(name, opt, f, i, h)
  if opt == ' ' then return i end
  if opt == '>' then h.endian = BIG return i end
  if opt == '<' then h.endian = LITTLE return i end
  if opt == '!' then
    local a
    a, i = getnum(f, i, MAXALIGN)
    if a == 0 or band(a, a - 1) ~= 0 then
      error('alignment ' .. a .. ' is not a power of 2', 0)
    end
    h.align = a
    return i
  end
  error("bad argument #1 to '" .. name .. "' (invalid format option '" .. opt .. "')", 0)
end

-- `absent`: what a missing argument is called ('no value'; 'nil' for pack, which has
-- pushed a nil right after its arguments).
local function checknumber(name, arg, v, absent)
  local n = tonumber(v)
  if n == nil then
    local got = (v == nil) and (absent or 'no value') or type(v)
    error("bad argument #" .. arg .. " to '" .. name .. "' (number expected, got " .. got .. ")", 0)
  end
  return n
end

local function checkstring(name, arg, v, absent)
  local t = type(v)
  if t == 'number' then return tostring(v) end
  if t ~= 'string' then
    local got = (v == nil) and (absent or 'no value') or t
    error("bad argument #" .. arg .. " to '" .. name .. "' (string expected, got " .. got .. ")", 0)
  end
  return v
end

-- `count` bytes of the 64-bit value (hi, lo), least significant first; zeros past 8.
local function le_bytes(hi, lo, count)
  local t = {}
  for k = 1, count do
    if k <= 4 then
      t[k] = lo % 256
      lo = (lo - t[k]) / 256
    elseif k <= 8 then
      t[k] = hi % 256
      hi = (hi - t[k]) / 256
    else
      t[k] = 0
    end
  end
  return t
end

local function emit(t, endian)
  local n = #t
  local out = {}
  for k = 1, n do
    out[k] = char(endian == LITTLE and t[k] or t[n + 1 - k])
  end
  return table.concat(out)
end

-- C's (unsigned long long) of a number: truncated, two's complement when negative.
local function halves(n)
  local t = (n < 0) and -floor(-n) or floor(n)
  if t >= 0 then
    local hi = floor(t / TWO32)
    return hi % TWO32, t - hi * TWO32
  end
  -- (long long) of a value below -2^63 is x86-64's "integer indefinite", 2^63.
  if t < -TWO32 * 2147483648 then return 2147483648, 0 end
  -- 2^64 - m from m's exact halves (-t - 1 would round above 2^53).
  local m = -t
  local mh = floor(m / TWO32)
  local ml = m - mh * TWO32
  if ml == 0 then return (TWO32 - mh) % TWO32, 0 end
  return TWO32 - 1 - mh, TWO32 - ml
end

local function round_even(r)
  local f = floor(r)
  local d = r - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then return f + 1 end
  return f
end

local function nan_negative(x) return sub(tostring(x), 1, 1) == '-' end

-- The IEEE 754 bits of `x` as (hi, lo) 32-bit halves: float (`bits` 32, lo only) or
-- double (64), rounded to nearest even as C's conversion does.
local function float_bits(x, double)
  local ebits, mbits = 8, 23
  if double then ebits, mbits = 11, 52 end
  local bias = 2 ^ (ebits - 1) - 1
  local emax = 2 ^ ebits - 1
  local sign = 0
  local e, frac
  if x ~= x then
    sign = nan_negative(x) and 1 or 0
    e, frac = emax, 2 ^ (mbits - 1)
  else
    if x < 0 or (x == 0 and 1 / x < 0) then sign, x = 1, -x end
    if x == math.huge then
      e, frac = emax, 0
    elseif x == 0 then
      e, frac = 0, 0
    else
      local m, ex = math.frexp(x)
      e = ex + bias - 1
      if e <= 0 then
        e, frac = 0, round_even(x / 2 ^ (1 - bias - mbits))
      else
        frac = round_even((m * 2 - 1) * 2 ^ mbits)
        if frac == 2 ^ mbits then e, frac = e + 1, 0 end
        if e >= emax then e, frac = emax, 0 end
      end
    end
  end
  if not double then return 0, sign * 2 ^ 31 + e * 2 ^ 23 + frac end
  -- frac < 2^52 is exact; the halves are summed apart so that nothing rounds.
  local fhi = floor(frac / TWO32)
  return sign * 2 ^ 31 + e * 2 ^ 20 + fhi, frac - fhi * TWO32
end

local function float_value(hi, lo, double)
  local ebits, mbits = 8, 23
  local bits = lo
  if double then
    ebits, mbits = 11, 52
    bits = hi * TWO32 + lo
  end
  local bias = 2 ^ (ebits - 1) - 1
  local top = double and hi or lo
  local sign = (top >= 2 ^ 31) and -1 or 1
  local e = floor(top / 2 ^ (31 - ebits)) % 2 ^ ebits
  local frac
  if double then
    frac = (hi % 2 ^ 20) * TWO32 + lo
  else
    frac = bits % 2 ^ 23
  end
  if e == 2 ^ ebits - 1 then
    if frac == 0 then return sign * math.huge end
    local nan = 0 / 0
    if nan_negative(nan) == (sign < 0) then return nan end
    return -nan
  end
  if e == 0 then return sign * frac * 2 ^ (1 - bias - mbits) end
  return sign * (frac + 2 ^ mbits) * 2 ^ (e - bias - mbits)
end

-- A number from `size` bytes at `pos` (0-based) as lua-struct reads it: the low 64 bits,
-- sign-extended from bit size*8-1 (taken modulo 64, as x86 shifts count) when signed.
local function getinteger(data, pos, endian, signed_, size)
  local hi, lo = 0, 0
  for k = 0, size - 1 do
    local b
    if endian == BIG then b = byte(data, pos + 1 + k) else b = byte(data, pos + size - k) end
    hi = (hi % 2 ^ 24) * 256 + floor(lo / 2 ^ 24)
    lo = (lo % 2 ^ 24) * 256 + b
  end
  if signed_ then
    local s = (size * 8 - 1) % 64
    if s >= 32 then
      local p = 2 ^ (s - 32)
      if hi >= p then hi = (TWO32 - p) + hi % p end
    else
      local p = 2 ^ s
      if hi > 0 or lo >= p then hi, lo = TWO32 - 1, (TWO32 - p) + lo % p end
    end
    if hi >= 2 ^ 31 then
      local nhi, nlo = TWO32 - 1 - hi, TWO32 - lo
      if nlo == TWO32 then nhi, nlo = nhi + 1, 0 end
      return -(nhi * TWO32 + nlo)
    end
  end
  return hi * TWO32 + lo
end

local function is_integer_opt(opt)
  return opt == 'b' or opt == 'B' or opt == 'h' or opt == 'H' or opt == 'l' or opt == 'L'
    or opt == 'T' or opt == 'i' or opt == 'I'
end

struct = {}

struct.pack = function(...)
  local f = checkstring('pack', 1, (...))
  local h = { endian = LITTLE, align = 1 }
  local arg, total, out = 2, 0, {}
  local i = 1
  while i <= #f do
    local opt = sub(f, i, i)
    local size
    size, i = optsize(opt, f, i + 1)
    local toalign = gettoalign(total, h, opt, size)
    total = total + toalign
    if toalign > 0 then out[#out + 1] = string.rep('\0', toalign) end
    if is_integer_opt(opt) then
      local hi, lo = halves(checknumber('pack', arg, (select(arg, ...)), 'nil'))
      arg = arg + 1
      out[#out + 1] = emit(le_bytes(hi, lo, size), h.endian)
    elseif opt == 'x' then
      out[#out + 1] = '\0'
    elseif opt == 'f' or opt == 'd' then
      local hi, lo = float_bits(checknumber('pack', arg, (select(arg, ...)), 'nil'), opt == 'd')
      arg = arg + 1
      out[#out + 1] = emit(le_bytes(hi, lo, size), h.endian)
    elseif opt == 'c' or opt == 's' then
      local s = checkstring('pack', arg, (select(arg, ...)), 'nil')
      arg = arg + 1
      if size == 0 then size = #s end
      if #s < size then
        error("bad argument #" .. arg .. " to 'pack' (string too short)", 0)
      end
      out[#out + 1] = sub(s, 1, size)
      if opt == 's' then
        out[#out + 1] = '\0'
        size = size + 1
      end
    else
      i = controloptions('pack', opt, f, i, h)
    end
    total = total + size
  end
  return table.concat(out)
end

struct.unpack = function(f, data, init)
  f = checkstring('unpack', 1, f)
  data = checkstring('unpack', 2, data)
  local ld = #data
  local pos = 1
  if init ~= nil then pos = floor(checknumber('unpack', 3, init)) end
  if pos <= 0 then error("bad argument #3 to 'unpack' (offset must be 1 or greater)", 0) end
  pos = pos - 1
  local h = { endian = LITTLE, align = 1 }
  local results, n = {}, 0
  local i = 1
  while i <= #f do
    local opt = sub(f, i, i)
    local size
    size, i = optsize(opt, f, i + 1)
    pos = pos + gettoalign(pos, h, opt, size)
    if size > ld or pos > ld - size then
      error("bad argument #2 to 'unpack' (data string too short)", 0)
    end
    if is_integer_opt(opt) then
      n = n + 1
      results[n] = getinteger(data, pos, h.endian, opt == string.lower(opt), size)
    elseif opt == 'x' then
      -- padding
    elseif opt == 'f' or opt == 'd' then
      local t = {}
      for k = 1, size do
        local b = byte(data, pos + k)
        if h.endian == BIG then t[size + 1 - k] = b else t[k] = b end
      end
      local lo = t[1] + t[2] * 256 + t[3] * 65536 + t[4] * 16777216
      local hi = 0
      if size == 8 then hi = t[5] + t[6] * 256 + t[7] * 65536 + t[8] * 16777216 end
      n = n + 1
      results[n] = float_value(hi, lo, opt == 'd')
    elseif opt == 'c' then
      if size == 0 then
        if n == 0 or tonumber(results[n]) == nil then
          error("format 'c0' needs a previous size", 0)
        end
        size = floor(tonumber(results[n]))
        results[n] = nil
        n = n - 1
        if size > ld - pos then
          error("bad argument #2 to 'unpack' (data string too short)", 0)
        end
      end
      n = n + 1
      results[n] = sub(data, pos + 1, pos + size)
    elseif opt == 's' then
      local e = string.find(data, '\0', pos + 1, true)
      if e == nil then error('unfinished string in data', 0) end
      size = e - pos
      n = n + 1
      results[n] = sub(data, pos + 1, e - 1)
    else
      i = controloptions('unpack', opt, f, i, h)
    end
    pos = pos + size
  end
  n = n + 1
  results[n] = pos + 1
  return unpack(results, 1, n)
end

struct.size = function(f)
  f = checkstring('size', 1, f)
  local h = { endian = LITTLE, align = 1 }
  local pos, i = 0, 1
  while i <= #f do
    local opt = sub(f, i, i)
    local size
    size, i = optsize(opt, f, i + 1)
    pos = pos + gettoalign(pos, h, opt, size)
    if opt == 's' then
      error("bad argument #1 to 'size' (option 's' has no fixed size)", 0)
    elseif opt == 'c' and size == 0 then
      error("bad argument #1 to 'size' (option 'c0' has no fixed size)", 0)
    end
    if not opt:match('%w') then i = controloptions('size', opt, f, i, h) end
    pos = pos + size
  end
  return pos
end
