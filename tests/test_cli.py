"Every config-driven script rejects a mistyped key before doing any work: exit 2, the dotted key, a suggestion, no traceback."
from pathlib import Path
import pytest
from conftest import ROOT, run_script

SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py") if "cli_config" in p.read_text() or "call_parse" in p.read_text())

def test_there_are_scripts(): assert SCRIPTS, "no config-driven scripts found"

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_typo_exits_2(script):
    r = run_script(script, "--model.hiden_size", "64", timeout=300)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "model.hiden_size" in r.stderr and "did you mean 'model.hidden_size'" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_bad_value_exits_2(script):
    r = run_script(script, "--model.norm_eps", "-1", timeout=300)
    assert r.returncode == 2 and "model.norm_eps" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
