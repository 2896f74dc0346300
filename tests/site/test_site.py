"""The lessons' web site (`make site`, lessons/site.py) as a reader gets it:
every page opens in a real browser (headless Chromium) with every image
loaded, every link leads somewhere, and nothing comes from the network.

Run by `make test-site`, which builds the site first into
$KIT_BUILD/site. Chromium is the Debian package `chromium`.
"""

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from harness import tracks

SITE = tracks.build_dir() / "site"
SHOTS = tracks.build_dir() / "site-shots"
CHROMIUM_S = 60  # one page, with a wide margin for a busy machine
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]

# Appended to a copy of each page: once everything has loaded, the body
# says which images did not (a missing file has naturalWidth 0).
PROBE = """<script>
window.addEventListener('load', function () {
  var bad = [];
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    if (!im.complete || im.naturalWidth === 0) bad.push(im.getAttribute('src'));
  }
  var p = document.createElement('pre');
  p.id = 'site-probe';
  p.textContent = 'PROBE images=' + document.images.length +
                  ' sections=' + document.querySelectorAll('section').length +
                  ' broken=' + JSON.stringify(bad);
  document.body.appendChild(p);
});
</script>"""


def html_pages():
    return sorted(SITE.rglob("*.html"))


class Refs(HTMLParser):
    """Collects ids, and every href and src."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append((tag, key, a[key]))


def parse(path):
    p = Refs()
    p.feed(path.read_text())
    return p


def test_the_site_was_built_with_every_lesson_and_a_deck_each():
    assert (SITE / "index.html").is_file(), f"no site in {SITE}: make site"
    lessons = sorted(tracks.ROOT.glob("lessons/[0-9][0-9]*.md"))
    for md in lessons:
        assert (SITE / "lessons" / f"{md.stem}.html").is_file(), md.name
        assert (SITE / "slides" / f"{md.stem}.html").is_file(), md.name
    assert list((SITE / "demo").glob("*.svg")), "no demo SVG on the site"


def test_every_link_and_image_points_to_something_that_exists():
    parsed = {p: parse(p) for p in html_pages()}
    broken, remote = [], []
    for page, refs in parsed.items():
        for tag, key, ref in refs.refs:
            url = urlsplit(ref)
            if url.scheme in ("http", "https"):
                if key == "src" or tag == "link":
                    remote.append(f"{page.name}: {ref}")
                continue  # a link out, followed only when clicked
            if url.scheme or ref.startswith("//"):
                remote.append(f"{page.name}: {ref}")
                continue
            target = (page.parent / unquote(url.path)).resolve() \
                if url.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(SITE)}: {ref}")
            elif url.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else \
                    parse(target).ids
                if url.fragment not in ids:
                    broken.append(f"{page.relative_to(SITE)}: {ref} (no such "
                                  f"anchor)")
    assert not remote, f"pages load from the network: {remote[:10]}"
    assert not broken, f"broken links or images: {broken[:20]}"


def chromium():
    exe = shutil.which("chromium")
    assert exe, "no chromium: make test-site installs the Debian package"
    return exe


@pytest.fixture(scope="module")
def probed_site(tmp_path_factory):
    """A copy of the site in which every page reports on its images."""
    copy = tmp_path_factory.mktemp("site") / "site"
    shutil.copytree(SITE, copy)
    for page in copy.rglob("*.html"):
        text = page.read_text()
        page.write_text(text.replace("</body>", PROBE + "\n</body>"))
    return copy


@pytest.mark.parametrize("rel", [p.relative_to(SITE).as_posix()
                                 for p in html_pages()])
def test_every_page_opens_in_chromium_with_every_image_loaded(
        rel, probed_site, tmp_path):
    run = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom",
         (probed_site / rel).as_uri()],
        capture_output=True, text=True, timeout=CHROMIUM_S)
    m = re.search(r"PROBE images=(\d+) sections=(\d+) broken=(\[.*?\])",
                  run.stdout)
    assert m, (f"{rel}: Chromium did not finish loading the page (exit "
               f"{run.returncode}): {run.stderr[-1500:]}")
    assert m.group(3) == "[]", f"{rel}: images that did not load: {m.group(3)}"
    if rel.startswith("slides/"):
        # A deck: a title and one slide per section of the lesson.
        assert int(m.group(2)) >= 5, f"{rel}: only {m.group(2)} slides"
    if re.match(r"lessons/\d\d", rel) and "make demo DEMO=" in (
            SITE / rel).read_text():
        assert int(m.group(1)) >= 1, f"{rel}: the demo's timeline is missing"


def demo_slide(deck):
    """The number of the deck's Demo slide (dzslides counts from 1)."""
    text = deck.read_text()
    return text[:text.index('id="demo"')].count("<section")


def test_screenshots_of_a_lesson_and_a_deck(tmp_path):
    """Pictures to look at (build/site-shots/): the top of a lesson, and
    the Demo slide of its deck with the timeline."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    deck = SITE / "slides" / "05-select-and-periodic-work.html"
    pages = {"lesson.png": ((SITE / "lessons" /
                             "02b-an-event-loop-by-hand.html").as_uri(),
                            "1280,2000"),
             "deck.png": (f"{deck.as_uri()}#{demo_slide(deck)}", "1280,900")}
    for name, (url, size) in pages.items():
        shot = SHOTS / name
        shot.unlink(missing_ok=True)
        subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={tmp_path / name}",
             f"--window-size={size}", "--virtual-time-budget=5000",
             f"--screenshot={shot}", url],
            capture_output=True, timeout=CHROMIUM_S)
        assert shot.is_file() and shot.stat().st_size > 10_000, (
            f"no screenshot of {url}")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
