"""A generic HTTP test server for the client library's tests.

Routes:
  /status/<code>   answer <code> with the body "status <code>"
  /bytes/<n>       answer 200 with n bytes of "x"
  /index/<n>       answer 200 "{}" with X-Nomad-Index and X-Consul-Index: n
  [/prefix]/echo   answer 200 with a JSON object: method, path, headers, body
  /stream/<n>      answer 200 chunked: n chunks "chunk <i>\\n", 50 ms apart
Faults, recording and the control API come from emucore (see its docstring).
"""

import json
import time

import emucore


class Echo(emucore.Emulator):
    name = "echo"

    def handle(self, req, resp):
        parts = req.path.strip("/").split("/")
        if parts[0] == "status" and len(parts) == 2:
            resp.text(int(parts[1]), "status " + parts[1])
        elif parts[0] == "bytes" and len(parts) == 2:
            resp.send(200, b"x" * int(parts[1]), "application/octet-stream")
        elif parts[0] == "index" and len(parts) == 2:
            resp.json(200, {}, [("X-Nomad-Index", parts[1]), ("X-Consul-Index", parts[1])])
        elif parts[-1] == "echo":
            resp.json(200, {
                "method": req.method,
                "path": req.raw_path,
                "headers": {k.lower(): v for k, v in req.headers.items()},
                "body": req.body.decode("utf-8", "replace"),
            })
        elif parts[0] == "stream" and len(parts) == 2:
            resp.start(200, [("Content-Type", "text/plain")], chunked=True)
            for i in range(int(parts[1])):
                resp.write("chunk %d\n" % i)
                time.sleep(0.05)
            resp.end()
        else:
            resp.send(404, b"")


if __name__ == "__main__":
    emucore.main(Echo)
