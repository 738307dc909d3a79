"""What a person at the back of a room could not read, found in the browser's layout (DOM queries).

:func:`layout_problems` runs in a Playwright page and returns one line per problem:
a label cut off with "…", a word broken across two lines, two pieces of text of a plotly
chart drawn over each other (title, subplot titles, annotations, legend, axis titles),
text sticking out of its chart, or a legend that turned into a scroll box.
"""

from __future__ import annotations

LAYOUT_PROBLEMS_JS = r"""
() => {
  const problems = [];
  const visible = el => el.offsetParent !== null || el.getClientRects().length > 0;
  const text = el => (el.textContent || '').trim().slice(0, 60);
  const boxOf = el => { const r = el.getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom}; };
  const empty = b => b.r - b.l < 1 || b.b - b.t < 1;
  const overlap = (a, b) => Math.min(a.r, b.r) - Math.max(a.l, b.l) > 2 && Math.min(a.b, b.b) - Math.max(a.t, b.t) > 2;

  // 1. Labels Streamlit would end with "…" (buttons, metrics, toggles, widget labels), and buttons
  //    whose text is wider than the button.
  for (const el of document.querySelectorAll('.stMarkdownEllipsis')) {
    if (visible(el) && el.scrollWidth > el.clientWidth + 1) problems.push(`cut off: "${text(el)}"`);
  }
  for (const el of document.querySelectorAll('[data-testid="stMain"] button')) {
    if (visible(el) && el.scrollWidth > el.clientWidth + 1)
      problems.push(`button text wider than its button: "${text(el)}"`);
  }
  // 2. Words broken across two lines in the page's text.
  const walker = document.createTreeWalker(document.querySelector('[data-testid="stMain"]') || document.body,
                                           NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const skip = 'svg, script, style, code, pre, [data-testid="stDataFrame"]';
    if (!node.parentElement || node.parentElement.closest(skip)) continue;
    const re = /[^\s\u200b]{2,}/g;
    let m;
    while ((m = re.exec(node.data)) !== null) {
      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1 && !/[-\/–—]/.test(m[0].slice(0, -1))) problems.push(`word broken across lines: "${m[0]}"`);
    }
  }
  // 3. Plotly charts: text over text, text outside the chart, legends that scroll.
  document.querySelectorAll('.js-plotly-plot').forEach((plot, index) => {
    const svg = plot.querySelector('svg.main-svg');
    if (!svg || !visible(plot)) return;
    const frame = boxOf(svg);
    const title = plot.querySelector('.gtitle');
    const name = `chart ${index + 1} "${title ? text(title) : ''}"`;
    const items = [];
    if (title) items.push(['title', title]);
    const subtitle = plot.querySelector('.infolayer text[class*="subtitle"]');
    if (subtitle) items.push(['subtitle', subtitle]);
    plot.querySelectorAll('.infolayer g.annotation').forEach(a => items.push([`annotation "${text(a)}"`, a]));
    plot.querySelectorAll('.infolayer text[class$="title"]:not(.gtitle):not([class*="subtitle"])')
        .forEach(t => items.push([`axis title "${text(t)}"`, t]));
    const legend = plot.querySelector('.infolayer .legend');
    if (legend) {
      const bg = legend.querySelector('rect.bg');
      items.push(['legend', bg || legend]);
      const bar = legend.querySelector('rect.scrollbar');
      if (bar && parseFloat(bar.getAttribute('height') || '0') > 0) problems.push(`${name}: the legend scrolls`);
    }
    const boxes = items.map(([label, el]) => [label, boxOf(el)]).filter(([, b]) => !empty(b));
    for (const [label, b] of boxes) {
      if (b.l < frame.l - 1 || b.r > frame.r + 1 || b.t < frame.t - 1 || b.b > frame.b + 1)
        problems.push(`${name}: ${label} sticks out of the chart`);
    }
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++)
        if (overlap(boxes[i][1], boxes[j][1])) problems.push(`${name}: ${boxes[i][0]} overlaps ${boxes[j][0]}`);
  });
  return problems;
}
"""


def layout_problems(page) -> list[str]:
    """Every readability problem on the page as the browser lays it out now (see module docs)."""
    return page.evaluate(LAYOUT_PROBLEMS_JS)
