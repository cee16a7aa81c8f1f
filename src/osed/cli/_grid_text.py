"""Text forms of the ``osed grid`` results, for a person at a terminal (from their JSON)."""

from __future__ import annotations

from typing import Any

from osed.cli._output import fields, number, table


def network_text(summary: dict[str, Any]) -> str:
    parts = [
        fields(
            [
                ("network", summary["name"]),
                ("source", summary["source"]),
                ("frequency", f"{number(summary['frequency_hz'])} Hz"),
                ("asymmetric", summary["asymmetric"]),
                ("coordinates", summary["has_coordinates"]),
                ("components", summary["components"]),
            ]
        )
    ]
    for kind, rows in summary["elements"].items():
        headers = list(rows[0])
        parts.append(
            f"{kind} ({len(rows)})\n" + table(headers, ([row[h] for h in headers] for row in rows))
        )
    if summary["unsupported"]:
        rows = summary["unsupported"]
        parts.append(
            f"unsupported ({len(rows)})\n"
            + table(
                ["kind", "id", "name", "reason"],
                ([r["kind"], r["id"], r["name"], r["reason"]] for r in rows),
            )
        )
    return "\n\n".join(parts)


def state_text(state: dict[str, Any]) -> str:
    title = f"{state['calculation'].replace('_', ' ')} of {state['network']}"
    symmetry = "symmetric" if state["symmetric"] else "asymmetric"
    nodes = table(
        ["node", "energized", "U p.u.", "angle rad", "U V", "P W", "Q var"],
        (
            [n["id"], n["energized"], n["u_pu"], n["u_angle_rad"], n["u_v"], n["p_w"], n["q_var"]]
            for n in state["nodes"]
        ),
    )
    branches = table(
        [
            "branch",
            "kind",
            "P from W",
            "Q from var",
            "I from A",
            "P to W",
            "Q to var",
            "I to A",
            "loading",
        ],
        (
            [
                b["id"],
                b["kind"],
                b["p_from_w"],
                b["q_from_var"],
                b["i_from_a"],
                b["p_to_w"],
                b["q_to_var"],
                b["i_to_a"],
                b["loading"],
            ]
            for b in state["branches"]
        ),
    )
    return f"{title} ({symmetry})\n\n{nodes}\n\n{branches}"


def estimate_text(result: dict[str, Any]) -> str:
    residuals = result["residuals"]
    redundancy = result["redundancy"]
    summary = fields(
        [
            ("method", result["method"]),
            ("measurements", redundancy["measurements"]),
            ("pseudo-measurements", redundancy["pseudo_measurements"]),
            ("degrees of freedom", redundancy["degrees_of_freedom"]),
            (
                "chi-square",
                f"{number(residuals['objective'])} against {number(residuals['chi2_threshold'])}"
                f" ({'passed' if residuals['chi2_passed'] else 'failed'})",
            ),
            (
                "bad data removed",
                [", ".join(r["measurements"]) for r in result["bad_data_removed"]] or "none",
            ),
            ("suspects", result["suspects"] or "none"),
        ]
    )
    return f"{summary}\n\n{state_text(result)}"  # the warnings are on standard error


def unobservable_text(failure: dict[str, Any]) -> str:
    report = failure["observability"]
    lines = [f"{failure['network']}: not observable", *report["messages"]]
    return "\n".join(lines)
