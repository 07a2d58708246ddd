"""``/sellapp stats``: numbers from the bridge's own records (pure), a chart, a CSV."""
