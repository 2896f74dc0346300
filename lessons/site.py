#!/usr/bin/python3
"""site: the lessons as a static web site, and one slide deck per lesson.

    make site                                   (from the kit's top folder)
    /usr/bin/python3 -m lessons.site --out build/site [--demo build/demo]

Writes, with pandoc (the Debian package), into OUT:

    index.html            the front page: lessons, decks, instructor pages
    lessons/NAME.html     every lessons/*.md (README.md becomes index.html)
    docs/NAME.html        every docs/*.md
    slides/NAME.html      a deck per numbered lesson (pandoc's dzslides:
                          one file, its script inside; arrow keys to move)
    demo/SCENE.svg        the timelines `make demo` drew, shown in the
                          lessons' Demo sections and in their decks
    site.css

Everything is local: no page loads anything from the network. Links between
Markdown files become links between the HTML pages; a link to any other
file of the kit points into the kit's folder beside the site (../..), so
it works when the site is opened from build/site/ in the kit. The code
excerpts are the lessons' own blocks (checked by excerpts.py), highlighted
by pandoc.

Standard library and pandoc only.
"""

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import tracks

ROOT = tracks.ROOT
LESSONS = ROOT / "lessons"
DOCS = ROOT / "docs"

CSS = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 0 auto;
       padding: 0 1rem 3rem; line-height: 1.5; color: #222; }
nav.site { display: flex; flex-wrap: wrap; gap: .3rem 1rem; padding: .6rem 0;
           border-bottom: 1px solid #ccc; font-size: .9rem; }
nav.pager { display: flex; justify-content: space-between; margin-top: 3rem;
            border-top: 1px solid #ccc; padding-top: .6rem; }
pre { background: #f6f6f4; padding: .6rem; overflow-x: auto;
      font-size: .85rem; }
code { font-size: .92em; }
table { border-collapse: collapse; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .2rem .5rem; vertical-align: top; }
img.demo { max-width: 100%; border: 1px solid #ccc; }
details { background: #f2f7f2; padding: .3rem .8rem; margin: .4rem 0 1rem; }
"""

# Extra style for the decks: long excerpts scroll inside their slide.
SLIDE_CSS = """<style>
  section { overflow-y: auto; font-size: 20px; }
  section h1 { margin-top: 180px; font-size: 56px; }
  section h2 { margin: 16px 0 8px; font-size: 34px; }
  section p { margin: 10px 40px; font-size: 20px; }
  section ul, section ol { margin: 10px 40px 10px 70px; }
  section pre { margin: 8px 40px; font-size: 13px; line-height: 1.25;
                max-height: 470px; overflow: auto; background: #f6f6f4; }
  section table { margin: 8px 40px; font-size: 15px;
                  border-collapse: collapse; }
  section td, section th { border: 1px solid #ddd; padding: 2px 6px; }
  section details { margin: 4px 40px; font-size: 17px; }
  img.demo { display: block; margin: 0 auto; max-width: 96%;
             max-height: 470px; }
</style>
"""

LINK = re.compile(r"\]\(([^)\s]+)\)")
DEMO = re.compile(r"make demo DEMO=(\w+)")


class SiteError(Exception):
    """Something make site cannot do (no pandoc, a missing demo SVG)."""


def pages():
    """(source .md, path of its page in the site) for every page."""
    out = []
    for md in sorted(LESSONS.glob("*.md")):
        name = "index" if md.stem == "README" else md.stem
        out.append((md, Path("lessons") / f"{name}.html"))
    for md in sorted(DOCS.glob("*.md")):
        out.append((md, Path("docs") / f"{md.stem}.html"))
    return out


def lesson_decks():
    """The numbered lessons, each of which gets a deck."""
    return [md for md in sorted(LESSONS.glob("[0-9][0-9]*.md"))]


def title_of(md):
    for line in md.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return md.stem


def relink(text, md, page, site_pages):
    """Rewrites the relative links of md's text for its page at `page`
    (relative to the site's root): a linked .md that has a page becomes a
    link to that page; any other file of the kit, a link into the kit
    beside the site."""
    depth = len(page.parts) - 1
    up = "../" * depth

    def fix(m):
        target = m.group(1)
        if "://" in target or target.startswith(("#", "mailto:")):
            return m.group(0)
        path, _, anchor = target.partition("#")
        real = (md.parent / path).resolve()
        if real in site_pages:
            new = up + site_pages[real].as_posix()
        else:
            # build/site/<page>: the kit's top folder is two levels above
            # the site's root.
            new = up + "../../" + real.relative_to(ROOT).as_posix()
        return f"]({new}{'#' + anchor if anchor else ''})"

    return LINK.sub(fix, text)


def add_demo_images(text, up):
    """After the code block that follows a lesson's '## Demo' heading, shows
    the SVG of each scene that section names (make demo DEMO=scene)."""
    m = re.search(r"^## Demo\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        return text, []
    section = m.group(1)
    scenes = list(dict.fromkeys(DEMO.findall(section)))
    if not scenes:
        return text, []
    images = "".join(
        f'\n<img class="demo" src="{up}demo/{s}.svg" alt="the {s} scene: '
        f'every version\'s timeline side by side, as make demo DEMO={s} '
        f'draws it">\n' for s in scenes)
    fence = section.find("```\n", section.find("```") + 3)
    at = m.start(1) + (fence + 4 if fence >= 0 else len(section))
    return text[:at] + images + "\n" + text[at:], scenes


def nav_html(page, ordered):
    """The bar at the top of every page."""
    up = "../" * (len(page.parts) - 1)
    links = [f'<a href="{up}index.html">Home</a>',
             f'<a href="{up}lessons/index.html">Lessons</a>']
    for md, p in ordered:
        if re.match(r"\d\d", md.stem):
            links.append(f'<a href="{up}{p.as_posix()}">{md.stem[:3].strip("-")}</a>')
    links += [f'<a href="{up}lessons/syllabus.html">Syllabus</a>',
              f'<a href="{up}lessons/assignments.html">Assignments</a>',
              f'<a href="{up}docs/programs.html">Programs</a>']
    return '<nav class="site">' + " ".join(links) + "</nav>\n"


def pager_html(page, prev, nxt, deck):
    up = "../" * (len(page.parts) - 1)
    parts = []
    parts.append(f'<a href="{up}{prev[1].as_posix()}">&larr; '
                 f'{html.escape(title_of(prev[0]))}</a>' if prev else "<span></span>")
    if deck:
        parts.append(f'<a href="{up}slides/{deck}">slides</a>')
    parts.append(f'<a href="{up}{nxt[1].as_posix()}">'
                 f'{html.escape(title_of(nxt[0]))} &rarr;</a>' if nxt else "<span></span>")
    return '<nav class="pager">' + " ".join(parts) + "</nav>\n"


def pandoc(args, text, tmp):
    source = tmp / "in.md"
    source.write_text(text)
    run = subprocess.run(["pandoc", "--from", "markdown", *args, str(source)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SiteError(f"pandoc failed: {run.stderr.strip()}")


def build(out, demo_dir):
    if shutil.which("pandoc") is None:
        raise SiteError("make site needs pandoc: sudo apt-get install pandoc")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "demo").mkdir(parents=True)
    (out / "site.css").write_text(CSS)
    all_pages = pages()
    site_pages = {md.resolve(): page for md, page in all_pages}
    ordered = [(md, p) for md, p in all_pages if md.parent == LESSONS and
               re.match(r"\d\d", md.stem)]
    decks = {md.resolve(): f"{md.stem}.html" for md in lesson_decks()}
    scenes = set()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for md, page in all_pages:
            up = "../" * (len(page.parts) - 1)
            text = relink(md.read_text(), md, page, site_pages)
            text, used = add_demo_images(text, up)
            scenes.update(used)
            i = next((k for k, (m, _) in enumerate(ordered) if m == md), None)
            prev = ordered[i - 1] if i not in (None, 0) else None
            nxt = ordered[i + 1] if i is not None and i + 1 < len(ordered) \
                else None
            (tmp / "before.html").write_text(nav_html(page, ordered))
            (tmp / "after.html").write_text(
                pager_html(page, prev, nxt, decks.get(md.resolve())))
            (out / page).parent.mkdir(parents=True, exist_ok=True)
            pandoc(["--to", "html5", "--standalone",
                    "--metadata", f"pagetitle={title_of(md)}",
                    "--css", f"{up}site.css",
                    "--include-before-body", str(tmp / "before.html"),
                    "--include-after-body", str(tmp / "after.html"),
                    "--output", str(out / page)], text, tmp)
        (out / "slides").mkdir()
        (tmp / "slides.css").write_text(SLIDE_CSS)
        for md in lesson_decks():
            page = Path("slides") / f"{md.stem}.html"
            text = relink(md.read_text(), md, page, site_pages)
            text, used = add_demo_images(text, "../")
            # The deck's title slide: the lesson's title; a slide per ##.
            text = re.sub(r"\A# .*\n", "", text)
            pandoc(["--to", "dzslides", "--standalone", "--slide-level", "2",
                    "--metadata", f"title={title_of(md)}",
                    "--include-in-header", str(tmp / "slides.css"),
                    "--output", str(out / page)], text, tmp)
        index = ["# The course kit: lessons and slides", "",
                 "- [The lessons](lessons/index.html), in order, then "
                 "[the assignments](lessons/assignments.html)",
                 "- For instructors: [the syllabus](lessons/syllabus.html), "
                 "[adding a program](docs/adding-a-program.html), "
                 "[further reading](lessons/further-reading.html)",
                 "- [What every program promises](docs/programs.html)", "",
                 "## Slide decks (arrow keys to move)", ""]
        index += [f"- [{title_of(md)}](slides/{md.stem}.html)"
                  for md in lesson_decks()]
        (tmp / "before.html").write_text(nav_html(Path("index.html"),
                                                  ordered))
        pandoc(["--to", "html5", "--standalone", "--metadata",
                "pagetitle=Course kit", "--css", "site.css",
                "--include-before-body", str(tmp / "before.html"),
                "--output", str(out / "index.html")], "\n".join(index) + "\n",
               tmp)
    missing = []
    for scene in sorted(scenes):
        svg = Path(demo_dir) / f"{scene}.svg"
        if svg.is_file():
            shutil.copy(svg, out / "demo" / svg.name)
        else:
            missing.append(str(svg))
    if missing:
        raise SiteError(f"no demo SVG {', '.join(missing)}: run make demo "
                        f"first (make site does)")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="The lessons as a web site "
                                 "and slide decks.")
    ap.add_argument("--out", default=str(tracks.build_dir() / "site"))
    ap.add_argument("--demo", default=str(tracks.build_dir() / "demo"),
                    help="where make demo wrote its SVGs")
    args = ap.parse_args(argv)
    try:
        out = build(args.out, args.demo)
    except SiteError as exc:
        print(f"site: {exc}", file=sys.stderr)
        return 1
    print(f"site: {out}/index.html (lessons, decks in {out}/slides/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
