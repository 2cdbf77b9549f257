-- Datetimes as the codec stores them: RFC 3339 in UTC, as chrono's
-- `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes it (runtime/src/codec.rs): a fraction of
-- 0, 3, 6 or 9 digits, whichever is shortest exact. (Prepended to index.lua.)

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then
    y = y - 1
  end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return y, m, d
end

-- The parts of a stored datetime: whole seconds since the epoch (exact) and nanoseconds.
local function datetime_parts(text)
  local y, mo, d, h, mi, s, frac = string.match(text,
    '^([+-]?%d+)-(%d%d)-(%d%d)T(%d%d):(%d%d):(%d%d)%.?(%d*)Z$')
  if not y then
    return nil
  end
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  local seconds = ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60 + tonumber(s)
  return seconds, tonumber(string.sub(frac .. '000000000', 1, 9))
end

-- The stored text of `seconds` since the epoch and `nanos`, or nil outside the years 0 to 9999
-- (which RFC 3339 cannot write).
local function datetime_text(seconds, nanos)
  local days = math.floor(seconds / 86400)
  local sod = seconds - days * 86400
  local y, m, d = civil_from_days(days)
  if y < 0 or y > 9999 then
    return nil
  end
  local text = string.format('%04d-%02d-%02dT%02d:%02d:%02d', y, m, d, math.floor(sod / 3600),
    math.floor(sod % 3600 / 60), sod % 60)
  if nanos > 0 then
    if nanos % 1000000 == 0 then
      text = text .. string.format('.%03d', nanos / 1000000)
    elseif nanos % 1000 == 0 then
      text = text .. string.format('.%06d', nanos / 1000)
    else
      text = text .. string.format('.%09d', nanos)
    end
  end
  return text .. 'Z'
end

