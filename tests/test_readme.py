"""The README's Python example runs and prints what it says."""
import re
from pathlib import Path


def test_readme_example_runs(capsys):
    text = (Path(__file__).parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "torch.Size([32, 1]) fused"


def test_every_other_readme_python_block_runs(tmp_path, monkeypatch):
    """The later ```python blocks (the diagnostics example ...) run as written, in a scratch folder for their files."""
    text = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)[1:]
    assert blocks, "the README has one Python block only"
    monkeypatch.chdir(tmp_path)
    for number, code in enumerate(blocks, start=2):
        if "onnxruntime as ort" in code:  # needs an exported run: tests/export/test_apps.py runs it on one
            continue
        if 'load("mnist", "test")' in code:  # a minute of training: tests/apps/test_demo_mnist.py runs it (slow)
            continue
        exec(compile(code, f"README.md python block {number}", "exec"), {})
