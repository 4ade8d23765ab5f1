-- wrk script: POST $BODY (or $BODY_FILE) with a bearer token ($TOKEN) and content type ($CTYPE).
wrk.method = "POST"
local f = os.getenv("BODY_FILE")
if f then
  local h = io.open(f, "r"); wrk.body = h:read("*a"); h:close()
else
  wrk.body = os.getenv("BODY")
end
wrk.headers["Content-Type"] = os.getenv("CTYPE") or "application/json"
local t = os.getenv("TOKEN")
if t and t ~= "" then wrk.headers["Authorization"] = "Bearer " .. t end
