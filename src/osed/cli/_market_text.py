"""Text forms of ``osed market clear`` and ``osed market replay`` results, for a terminal."""

from __future__ import annotations

from typing import Any

from osed.cli._output import fields, table


def auction_text(result: dict[str, Any]) -> str:
    summary = fields(
        [
            ("outcome", result["outcome"]),
            ("price", result["price"]),
            ("quantity", result["quantity"]),
        ]
    )
    if not result["fills"]:
        return f"{summary}\nno fills"
    fills = table(
        ["order", "quantity", "price"],
        ([fill["id"], fill["quantity"], fill["price"]] for fill in result["fills"]),
    )
    return f"{summary}\n\n{fills}"


def replay_text(events: list[dict[str, Any]]) -> str:
    if not events:
        return "no events"
    return table(
        ["event", "order", "against", "price", "quantity", "remaining"],
        (
            [
                event["event"],
                event["incoming_id"],
                event["resting_id"],
                event["price"],
                event["quantity"],
                "",
            ]
            if event["event"] == "fill"
            else [event["event"], event["id"], "", "", event["canceled"], event["remaining"]]
            for event in events
        ),
    )
