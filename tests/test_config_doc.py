"""docs/CONFIGURATION.md lists every setting and is exactly what the generator produces."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from claude_code_api.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_doc", ROOT / "scripts" / "gen_config_doc.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_doc_is_up_to_date() -> None:
    gen = load_generator()
    assert gen.main(["--check"]) == 0, "run: python scripts/gen_config_doc.py"


def test_every_setting_is_documented_with_its_default() -> None:
    doc = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    for name, info in Settings.model_fields.items():
        row = next(
            line for line in doc.splitlines() if line.startswith(f"| `CCAPI_{name.upper()}`")
        )
        assert info.description and info.description.split(",")[0] in row.replace("\\|", "|")
    assert "| `CCAPI_MAX_WORKERS` | int | `5` |" in doc
    assert "| `CCAPI_REDIS_URL` | str \\| None | `unset` |" in doc


def test_check_detects_a_stale_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = load_generator()
    stale = tmp_path / "CONFIGURATION.md"
    stale.write_text("# Configuration\n\nold\n")
    monkeypatch.setattr(gen, "DOC", stale)
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    assert "CCAPI_DATABASE_URL" in stale.read_text()
