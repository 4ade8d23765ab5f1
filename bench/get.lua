-- wrk script: GET with a bearer token ($TOKEN).
local t = os.getenv("TOKEN")
if t and t ~= "" then wrk.headers["Authorization"] = "Bearer " .. t end
