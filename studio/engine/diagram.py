"""The graph as an SVG diagram (nodes at their canvas positions, edges with shapes)."""

from __future__ import annotations

from html import escape

from studio.engine import catalog

W, H = 200, 66

def graph_svg(graph, states: dict | None = None) -> str:
    if states is None:
        from studio.engine.shapes import ShapeChecker
        checker = ShapeChecker(graph)
        checker.refresh()
        states = checker.states
    from studio.engine.shapes import format_shape
    nodes = list(graph.nodes.values())
    if not nodes:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40"></svg>\n'
    xs = [n.position[0] for n in nodes]
    ys = [n.position[1] for n in nodes]
    x0, y0 = min(xs) - 40, min(ys) - 40
    width, height = max(xs) - x0 + W + 140, max(ys) - y0 + H + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
             f'viewBox="{x0:.0f} {y0:.0f} {width:.0f} {height:.0f}" font-family="sans-serif">',
             f'<rect x="{x0}" y="{y0}" width="{width}" height="{height}" fill="#f5f7fa"/>']
    for e in sorted(graph.edges):
        a, b = graph.nodes[e.src], graph.nodes[e.dst]
        ax, ay = a.position[0] + W / 2, a.position[1] + H
        n_in = max(1, len(graph.inputs_of(b.id)))
        bx, by = b.position[0] + W * (e.dst_port + 1) / (n_in + 1), b.position[1]
        dy = max(40.0, abs(by - ay) / 2)
        parts.append(f'<path d="M{ax},{ay} C{ax},{ay + dy} {bx},{by - dy} {bx},{by}" fill="none" '
                     'stroke="#78909c" stroke-width="1.6"/>')
        st = states.get(e.src)
        if st is not None and st.outputs and e.src_port < len(st.outputs):
            parts.append(f'<text x="{(ax + bx) / 2 + 6}" y="{(ay + by) / 2}" font-size="9" fill="#455a64">'
                         f'{escape(format_shape(st.outputs[e.src_port]))}</text>')
    for n in nodes:
        x, y = n.position
        color = catalog.category_color(n.class_name)
        st = states.get(n.id)
        border = "#d32f2f" if st is not None and st.error else color
        title = f"{'Input' if n.class_name == 'InputLayer' else n.class_name}  " \
                f"{catalog.key_params_text(n.class_name, n.config)}"
        status = "" if st is None else (st.error or ", ".join(format_shape(s) for s in st.outputs or []))
        if st is not None and st.params:
            status += f"  {st.params:,} params"
        parts += [f'<rect x="{x}" y="{y}" width="{W}" height="{H}" rx="8" fill="#fff" stroke="{border}" '
                  'stroke-width="1.5"/>',
                  f'<rect x="{x}" y="{y}" width="6" height="{H}" rx="3" fill="{color}"/>',
                  f'<text x="{x + 12}" y="{y + 18}" font-size="12" font-weight="bold">{escape(title[:32])}</text>',
                  f'<text x="{x + 12}" y="{y + 36}" font-size="10" fill="#616161">{escape(n.name)}</text>',
                  f'<text x="{x + 12}" y="{y + 55}" font-size="10" fill="#2e4053">{escape(status[:40])}</text>']
    parts.append("</svg>\n")
    return "\n".join(parts)
