"""Dead letters: a rejected message, its original payload, and every reason, as JSON.

Published on ``<prefix>/<original topic>`` so a subscriber can follow the rejects of one
device or pipeline with the same pattern as its input (``dead-letter/bal/raw/#``).
"""

from __future__ import annotations

import base64
import json

from osed.bridge.samples import Reject


def dead_letter_topic(prefix: str, topic: str) -> str:
    return f"{prefix}/{topic}"


def encode_dead_letter(reject: Reject, pipeline: str) -> bytes:
    envelope = reject.envelope
    try:
        text: str | None = envelope.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    document = {
        "pipeline": pipeline,
        "topic": envelope.topic,
        "source": envelope.source,
        "seq": envelope.seq,
        "key": envelope.key,
        "stage": reject.stage,
        "problems": [
            {"path": p.path, "code": p.code, "message": p.message} for p in reject.problems
        ],
        "payload": base64.b64encode(envelope.payload).decode("ascii"),
        "payloadText": text,
    }
    return json.dumps(document, separators=(",", ":")).encode()
