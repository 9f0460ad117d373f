-- Tandem's versions of the `bit`, `cjson` and `cmsgpack` libraries Redis offers to
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

local function encode_number(n)
  if n ~= n or n == math.huge or n == -math.huge then
    error('Cannot serialise number: must not be NaN or Inf', 0)
  end
  return fmt('%.14g', n)
end

-- lua-cjson's array test: only positive integer keys, and not too sparse.
local function array_length(t)
  local max, count = 0, 0
  for k in pairs(t) do
    if type(k) == 'number' and k > 0 and floor(k) == k then
      if k > max then max = k end
      count = count + 1
    else
      return -1
    end
  end
  if max > 10 and max > count * 2 then
    error('Cannot serialise table: excessively sparse array', 0)
  end
  return max
end

local encode_value

local function encode_table(t, depth, out)
  if depth > 1000 then
    error('Cannot serialise, excessive nesting (' .. depth .. ')', 0)
  end
  local len = array_length(t)
  if len > 0 then
    out[#out + 1] = '['
    for i = 1, len do
      if i > 1 then out[#out + 1] = ',' end
      encode_value(t[i], depth, out)
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
      out[#out + 1] = '"' .. encode_number(k) .. '"'
    else
      error('Cannot serialise ' .. kt .. ': table key must be a number or string', 0)
    end
    out[#out + 1] = ':'
    encode_value(v, depth, out)
  end
  out[#out + 1] = '}'
end

encode_value = function(v, depth, out)
  local t = type(v)
  if t == 'string' then
    out[#out + 1] = encode_string(v)
  elseif t == 'number' then
    out[#out + 1] = encode_number(v)
  elseif t == 'boolean' then
    out[#out + 1] = tostring(v)
  elseif t == 'nil' or v == null then
    out[#out + 1] = 'null'
  elseif t == 'table' then
    encode_table(v, depth + 1, out)
  else
    error('Cannot serialise ' .. t .. ': type not supported', 0)
  end
end

-- The decoder: a tokenizer over the text and a recursive reader, with lua-cjson's
-- messages ("Expected <what> but found <token> at character <n>").
local function decode(text)
  local pos = 1
  local len = #text

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
    local word = text:match('^[%w%.%+%-]+', pos)
    if word then
      if word == 'true' then pos = pos + 4 return 'T_BOOLEAN', true, at end
      if word == 'false' then pos = pos + 5 return 'T_BOOLEAN', false, at end
      if word == 'null' then pos = pos + 4 return 'T_NULL', null, at end
      local n = word:match('^%-?%d+%.?%d*[eE]?[%+%-]?%d*')
      if n and n ~= '' and n ~= '-' and tonumber(n) then
        pos = pos + #n
        return 'T_NUMBER', tonumber(n), at
      end
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
      if depth >= 1000 then
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

cjson = {}
cjson.null = null
local function one_argument(name, n)
  if n ~= 1 then error("bad argument #1 to '" .. name .. "' (expected 1 argument)", 0) end
end
cjson.encode = function(...)
  one_argument('encode', select('#', ...))
  local v = ...
  local out = {}
  encode_value(v, 0, out)
  return table.concat(out)
end
cjson.decode = function(...)
  one_argument('decode', select('#', ...))
  local s = ...
  local t = type(s)
  if t == 'number' then
    s = tostring(s)
  elseif t ~= 'string' then
    local got = (s == nil) and 'no value' or t
    error("bad argument #1 to 'decode' (string expected, got " .. got .. ")", 0)
  end
  return decode(s)
end

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
