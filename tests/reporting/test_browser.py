"""The report opened in headless Chromium: every section there, no broken image; a screenshot."""

from __future__ import annotations

import base64
import re

from automl.reporting import SECTIONS
from tests.browser import run

# Runs in the page before the DOM is dumped: each image's decoded width, or "broken".
PROBE = """<script>window.addEventListener("load", () => {
  for (const img of document.images) {
    img.setAttribute("data-natural", img.complete && img.naturalWidth > 0 ?
      String(img.naturalWidth) : "broken");
  }
  document.body.setAttribute("data-probed", "yes");
});</script></body>"""


def test_report_renders_in_chromium(reported, chromium, tmp_path):
    _, index = reported
    probed = tmp_path / "probed.html"  # the report plus the probe; images stay embedded
    probed.write_text(index.read_text().replace("</body>", PROBE))
    dom = run(
        chromium, tmp_path, "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()
    ).stdout
    assert 'data-probed="yes"' in dom
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in dom, sid
    imgs = re.findall(r"<img [^>]*>", dom)
    written = index.read_text().count("<img ")  # every figure the report holds reached the DOM
    assert len(imgs) == written and written >= 10
    for tag in imgs:
        natural = re.search(r'data-natural="([^"]+)"', tag).group(1)
        assert natural != "broken" and int(natural) > 100, tag[:80]
        data = re.search(r'src="data:image/png;base64,([^"]+)"', tag).group(1)
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"

    screenshot = tmp_path / "report_screenshot.png"
    run(chromium, tmp_path, f"--screenshot={screenshot}", "--window-size=1280,4000", index.as_uri())
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {screenshot}")
