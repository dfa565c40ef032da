"""Small pyqtgraph helpers shared by the panels (pyqtgraph is imported when first used)."""

from __future__ import annotations

import functools


@functools.cache
def _whole_number_axis_class():
    import pyqtgraph as pg

    class WholeNumberAxis(pg.AxisItem):
        """An axis that counts things (epochs): ticks on whole numbers only."""

        def tickValues(self, minVal, maxVal, size):
            levels = [(spacing, [v for v in values if float(v).is_integer()])
                      for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
            return levels or [(1.0, [float(v) for v in range(int(minVal), int(maxVal) + 1)])]

    return WholeNumberAxis


def whole_number_axis(orientation: str = "bottom"):
    return _whole_number_axis_class()(orientation=orientation)
