"""Page-wide CSS for projectors: nothing cut off with "…", no word broken in the middle.

A classroom projects at 1280×720 with the browser at 150 % (what the Lessons page
recommends): about 850 CSS pixels across, ~550 of them for the page beside the sidebar.
Streamlit squeezes side-by-side columns to any width and ends labels that do not fit
with "…"; these rules let columns wrap onto the next line instead, and let labels wrap.

Pages opt in to wider minimum widths with a keyed container around their columns:
``st.container(key="wide-…")`` for charts side by side, ``st.container(key="cards-…")``
for columns of findings or cards.
"""

from __future__ import annotations

import streamlit as st

CSS = """
<style>
/* A column never gets narrower than a short label; below that, columns wrap onto the next line. */
[data-testid="stColumn"] { min-width: min(100%, 7rem); }
/* Charts side by side need room for their titles and legends. */
[class*="st-key-wide-"] [data-testid="stColumn"] { min-width: min(100%, 24rem); }
/* Columns of findings and of lesson cards hold sentences: never a word per line. */
[class*="st-key-cards-"] [data-testid="stColumn"],
[data-testid="stColumn"]:has([class*="st-key-lesson"]) { min-width: min(100%, 15rem); }
/* Labels of buttons, toggles, checkboxes and metrics wrap at spaces instead of ending in "…". */
.stMarkdownEllipsis { white-space: normal; text-overflow: clip; overflow: visible; }
.stMarkdownEllipsis p { white-space: normal; }
/* Words stay whole: a line breaks inside a word only when the word alone is wider than its box. */
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stHeading"] { word-break: normal; overflow-wrap: break-word; hyphens: manual; }
/* Metric values shrink a little on narrow screens rather than being cut ("1.639…"). */
[data-testid="stMetricValue"] { font-size: clamp(1.6rem, 1.1rem + 1.5vw, 2.25rem); }
</style>
"""


def apply() -> None:
    """Add the CSS to the page (call once per script run, from the entry script)."""
    st.html(CSS)
