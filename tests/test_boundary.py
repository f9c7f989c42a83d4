"""rnn_core stands alone: importing it never pulls in Streamlit (usable from a notebook)."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_rnn_core_imports_without_streamlit():
    code = ("import sys, rnn_core, importlib, pkgutil\n"
            "for m in pkgutil.iter_modules(rnn_core.__path__): importlib.import_module('rnn_core.' + m.name)\n"
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_rnn_core_source_mentions_streamlit():
    offenders = [p.name for p in (ROOT / "rnn_core").rglob("*.py") if "streamlit" in p.read_text()]
    assert offenders == []
