"""Small utilities every part uses: atomic writes, staged folders, timestamps, lazy imports, tables, progress."""
