-- wrk: POST /todos with a small JSON body (the todo_create workload).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title": "buy milk", "done": false}'
