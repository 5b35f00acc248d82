-- The mailbox password's passdb (mailbasic). It verifies the password itself, with
-- Dovecot's own password_verify, against the stored hash (bcrypt) that it reads from
-- the view dovecot_passwords as the mailbasic_dovecot role.
--
-- Why Lua and not the SQL passdb: Dovecot's auth cache keeps what a passdb returns. An
-- SQL passdb returns the bcrypt hash, so every cached login runs bcrypt again. A passdb
-- that verifies by itself returns no hash, and Dovecot then caches a SHA-1 of the
-- password that worked: a client polling with the same password costs microseconds.
-- mailbasic flushes a login's cache entry when its password or rights change.
--
-- Which protocols a mailbox may use now (suspension, switched off) is the next passdb's
-- business (an SQL passdb that runs only after this one succeeded).

local luasql = require "luasql.postgres"

local conninfo
local environment
local connection

local function connect_line(path)
  for line in io.lines(path) do
    local value = line:match("^%s*connect%s*=%s*(.-)%s*$")
    if value then
      return value
    end
  end
  error("no connect = line in " .. path)
end

-- Dovecot calls script_init once per auth process. The database settings are those of
-- the SQL passdb beside this script (dovecot-sql.conf.ext, written by mailbasic).
function script_init()
  local directory = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
  conninfo = connect_line(directory .. "/dovecot-sql.conf.ext")
  environment = luasql.postgres()
  return 0
end

function script_deinit()
  if connection then connection:close() end
  if environment then environment:close() end
end

local function query(req)
  if not connection then
    connection = assert(environment:connect(conninfo))
  end
  local cursor, problem = connection:execute(string.format(
    "SELECT username, password FROM dovecot_passwords" ..
    " WHERE local_part = '%s' AND domain = '%s'",
    connection:escape(req.username), connection:escape(req.domain or "")))
  if not cursor then
    connection:close()
    connection = nil
    error(problem)
  end
  local row = cursor:fetch({}, "a")
  cursor:close()
  return row
end

-- A connection the database dropped (a restart) fails its next query: connected anew
-- and asked once more, so the first login after a restart is not refused.
local function stored_password(req)
  local ok, row = pcall(query, req)
  if ok then
    return row
  end
  return query(req)
end

function auth_password_verify(req, password)
  local ok, row = pcall(stored_password, req)
  if not ok then
    req:log_error("mailbasic passdb: database: " .. tostring(row))
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, ""
  end
  if row == nil then
    return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, ""
  end
  if req:password_verify(row.password, password) ~= 1 then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, ""
  end
  return dovecot.auth.PASSDB_RESULT_OK, { user = row.username }
end
