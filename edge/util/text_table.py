"""The one plain-text table every command prints (export summary, bench, doctor): left-aligned
columns two spaces apart, a rule of dashes under the header, no trailing spaces."""


def format_table(rows, headers, rule=True):
    """`rows` (sequences of cells, any type) under `headers`, as one string."""
    table = [[str(cell) for cell in headers]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
    if rule:
        lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
