# The redis-py side of the discovery client matrix (test/helpers/client-matrix.ts): a
# Sentinel-managed master connection with redis-py's defaults, rbuddy as the only sentinel, GET of
# one key in a loop. About ten times a second it prints one JSON line: the reads so far and the
# port of the node it reads from (INFO through the same connection pool). It stops when its stdin
# closes. Run by Debian's /usr/bin/python3 with Debian's python3-redis. A sixth argument `retry`
# gives the client README.md's option: `retry_on_error=[ConnectionError]` (one immediate retry,
# on a new connection, so through the sentinel).
import json
import sys
import threading
import time

import redis
from redis.sentinel import Sentinel

host, port, group, key, expected = sys.argv[1:6]
options = {"retry_on_error": [redis.ConnectionError]} if sys.argv[6:] == ["retry"] else {}
master = Sentinel([(host, int(port))]).master_for(group, **options)
state = {"stop": False}


def watch_stdin():
    sys.stdin.read()
    state["stop"] = True


threading.Thread(target=watch_stdin, daemon=True).start()
ok, failed, wrong = 0, [], []
last = 0.0
print(json.dumps({"version": redis.__version__}), flush=True)
while not state["stop"]:
    try:
        value = master.get(key)
        if value == expected.encode():
            ok += 1
        else:
            wrong.append("read %r" % (value,))
    except Exception as error:  # every failure is counted, none ends the loop
        failed.append("%s: %s" % (type(error).__name__, error))
        time.sleep(0.01)
    now = time.monotonic()
    if now - last >= 0.1:
        last = now
        try:
            node = master.info("server")["tcp_port"]
        except Exception:
            node = None
        print(json.dumps({"ok": ok, "failed": failed, "wrong": wrong, "port": node}), flush=True)
