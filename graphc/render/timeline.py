"""The memory timeline of a plan as an SVG: live arena bytes after each step of the schedule, the
steps colored by phase (forward, backward, optimizer), the peak marked and attributed to the
values live there. Plain SVG text: no Graphviz needed."""

from __future__ import annotations

from html import escape
from pathlib import Path

from graphc.render import style

WIDTH, HEIGHT, MARGIN, LEGEND = 900, 320, 60, 150
# The phases' colors of the graph pictures (forward ops are white there: a light blue here).
PHASE_FILL = {"forward": "#bbdefb", **{p: style.KINDS[p][0]["fillcolor"]
                                       for p in ("backward", "optimizer")}}


def timeline_svg(plan, title: str = "") -> str:
    """The SVG text of `plan`'s live bytes over its steps."""
    live = plan.timeline() or [0]
    steps, top = len(live), max(max(live), 1)
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def x(i: float) -> float:
        return MARGIN + plot_w * i / max(steps, 1)

    def y(v: float) -> float:
        return HEIGHT - MARGIN - plot_h * v / top

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
             f'height="{HEIGHT + LEGEND}" font-family="Helvetica, Arial" font-size="12">'),
             f'<text x="{MARGIN}" y="24" font-size="15">{escape(title)}</text>']
    for i, node in enumerate(plan.graph.nodes):
        phase = node.meta.get("phase", "forward")
        color = PHASE_FILL.get(phase, "#eeeeee")
        tip = escape(f"step {i + 1}: {_label(node)}  {live[i]:,} bytes live")
        parts.append(f'<rect x="{x(i):.1f}" y="{y(live[i]):.1f}" width="{x(i + 1) - x(i):.1f}" '
                     f'height="{HEIGHT - MARGIN - y(live[i]):.1f}" fill="{color}" '
                     f'stroke="#555" stroke-width="0.3"><title>{tip}</title></rect>')
    parts += _axes(x, y, steps, top)
    parts += _peak(plan, live, x, y)
    parts += _legend()
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_timeline(plan, path, title: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(timeline_svg(plan, title))
    return path


def _label(node) -> str:
    name = node.attrs["body"].name if node.op == "fused" else node.op
    where = node.meta.get("scope") or node.meta.get("loc") or ""
    return f"{name} {where}".strip()


def _axes(x, y, steps: int, top: int) -> list[str]:
    bottom = y(0)
    out = [f'<line x1="{x(0)}" y1="{bottom}" x2="{x(steps)}" y2="{bottom}" stroke="#000"/>',
           f'<line x1="{x(0)}" y1="{bottom}" x2="{x(0)}" y2="{y(top)}" stroke="#000"/>',
           (f'<text x="{x(steps)}" y="{bottom + 22}" text-anchor="end">execution order '
           f'({steps} steps)</text>')]
    for fraction in (0, 0.5, 1):
        value = top * fraction
        out.append(f'<text x="4" y="{y(value) + 4:.1f}">{_mib(value)}</text>')
    return out


def _peak(plan, live, x, y) -> list[str]:
    step = plan.peak_step
    cx, cy = (x(step) + x(step + 1)) / 2, y(live[step])
    values = sorted(plan.live_at_peak(), key=lambda v: -v.type.nbytes)[:4]
    anchor, dx = ("end", -10) if cx > WIDTH / 2 else ("start", 10)
    out = [f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="#c62828"/>',
           (f'<text x="{cx + dx:.1f}" y="{cy + 4:.1f}" fill="#c62828" text-anchor="{anchor}">'
           f'peak {_mib(live[step])} at step {step + 1}</text>')]
    base = HEIGHT + 10
    out.append(f'<text x="{MARGIN}" y="{base}" font-weight="bold">live at the peak</text>')
    for i, value in enumerate(values):
        meta = value.node.meta if value.kind == "node" else {}
        where = " ".join(str(meta[k]) for k in ("loc", "scope") if meta.get(k))
        text = f"{_mib(value.type.nbytes)}  %{value.name} {value.type}  {where}"
        out.append(f'<text x="{MARGIN}" y="{base + 18 * (i + 1)}">{escape(text)}</text>')
    return out


def _legend() -> list[str]:
    out, y0 = [], HEIGHT - MARGIN + 22
    for i, (phase, color) in enumerate(PHASE_FILL.items()):
        x0 = MARGIN + 100 * i
        out.append(f'<rect x="{x0}" y="{y0 - 10}" width="12" height="12" fill="{color}" '
                   f'stroke="#555"/><text x="{x0 + 16}" y="{y0}">{phase}</text>')
    return out


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.2f} MiB" if nbytes >= 2**20 else f"{nbytes / 1024:.1f} KiB"
