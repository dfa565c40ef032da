"""The window's actions, grouped by menu: files (new, open, save, recent,
autosave, recovery) and edits (add, delete, clipboard, layout, fixes, outputs)."""
