-- wrk -s bench/post_1m.lua: every request is a POST of a 1 MiB body.
wrk.method = "POST"
wrk.body = string.rep("x", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
