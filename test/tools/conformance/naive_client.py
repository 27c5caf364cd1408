"""The Python example client with one mistake, named by the first argument,
that the conformance client suite must catch (#24):

- keep-cursor: after a recovery with recovered: false lower than its
  cursor (future_offset) it keeps the higher cursor, and drops what
  follows as duplicates (against docs/protocol.md 5.3);
- retry-4403: it reconnects after 4403, a final close code (against 7).

Everything else is examples/python/session_client.py as it is.
"""

import asyncio
import os
import sys

# Imported, the example would leave a __pycache__ in the tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "examples", "python"))
import session_client as example  # noqa: E402


class KeepsCursor(example.SessionClient):
    def _recovery(self, frame):
        kept = self.cursors.get(frame["topic"])
        super()._recovery(frame)
        if kept is not None and frame.get("recovered") is not True and kept[0] == frame["epoch"] and kept[1] > frame["offset"]:
            self.cursors[frame["topic"]] = kept


mistake = sys.argv[1] if len(sys.argv) > 1 else ""
if mistake == "keep-cursor":
    example.SessionClient = KeepsCursor
elif mistake == "retry-4403":
    example.FINAL_CODES = example.FINAL_CODES - {4403}
else:
    sys.exit(f"naive_client.py: unknown mistake {mistake!r} (keep-cursor or retry-4403)")

asyncio.run(example.main())
