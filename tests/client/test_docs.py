"""The Python examples of docs/client.md run, in order, against a real jpsi-serve."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def test_examples_run(server_url, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for block in blocks:
        code = block.replace("http://127.0.0.1:8000", server_url)
        exec(compile(code, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    assert "y = 63 > 1" in out  # the unphysical point's reason
    assert "422" in out and "channels" in out  # the typed 422 names the field
    assert namespace["exact"].shape[0] == 3 and namespace["surrogate"].shape[0] == 3
