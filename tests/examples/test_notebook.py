"""The example notebook runs from top to bottom in a fresh kernel and draws its chart."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[2] / "examples" / "notebooks" / "small_study.ipynb"


def test_the_small_study_notebook_runs_and_plots(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    results = [o for o in outputs if o.output_type == "execute_result"]
    kpis = results[0]["data"]["text/plain"]
    assert "ledger_verified': True" in kpis
    assert any("image/svg+xml" in o.get("data", {}) for o in outputs)
