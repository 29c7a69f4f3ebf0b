"""How the review opens the browser (issue 18 item 13): the token of the run must never appear on any
process's command line (`ps` shows every user's), so the browser is given a private file that redirects."""

from __future__ import annotations

import json
import stat
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from .conftest import start_review

pytestmark = pytest.mark.slow  # a real CLI process

RECORDER = """#!{python}
import json, os, sys
from urllib.parse import unquote, urlparse
target = unquote(urlparse(sys.argv[1]).path) if sys.argv[1].startswith("file:") else None
with open({out!r} + ".part", "w") as out:
    json.dump({{"argv": sys.argv, "cmdline": open("/proc/self/cmdline", "rb").read().decode(errors="replace"),
               "mode": os.stat(target).st_mode if target else None,
               "page": open(target).read() if target else None}}, out)
os.replace({out!r} + ".part", {out!r})
"""


def test_the_browser_gets_a_private_redirect_file_not_the_token(library, suggestions, tmp_path):
    record = tmp_path / "browser.json"
    browser = tmp_path / "browser"
    browser.write_text(RECORDER.format(python=sys.executable, out=str(record)))
    browser.chmod(0o755)
    review = start_review(library, tmp_path / "index.sqlite", "--from", str(suggestions), browser=str(browser))
    try:
        deadline = time.monotonic() + 30
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = json.loads(record.read_text())
        server_cmdline = Path(f"/proc/{review.process.pid}/cmdline").read_bytes().decode(errors="replace")
    finally:
        assert review.stop() == 0
    assert review.token not in " ".join(seen["argv"]) and review.token not in seen["cmdline"]
    assert review.token not in server_cmdline
    opened = Path(unquote(urlparse(seen["argv"][1]).path))
    assert seen["argv"][1].startswith("file://") and opened.suffix == ".html"
    assert stat.S_IMODE(seen["mode"]) == 0o600
    assert f'content="0;url={review.url}"' in seen["page"] and f'href="{review.url}"' in seen["page"]
    assert not opened.exists()  # removed when the review stopped
