"""The README's Python example ("## Python", first python block) runs as written, pointed at
the replay server instead of a vLLM server."""

import contextlib
import io
import re

from conftest import REPO


def test_the_readme_example_runs(replay):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Python\n") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "http://127.0.0.1:8000/v1" in code
    replay.on({"models": ["m"]}, path="/v1/models")  # the example names no model: discovered
    replay.push({"text": "Hi!"})
    replay.push({"stream": ["one", " two"]})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("http://127.0.0.1:8000/v1", replay.base_url), "README.md", "exec"), {})
    assert out.getvalue() == "Hi!\none two"
