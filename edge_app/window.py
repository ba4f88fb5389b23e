"""An annotated OpenCV window (desktop, or a Pi with a monitor): q or ESC quits.

Needs OpenCV's GUI build (`pip install 'fashion-edge[gui]'`); the `edge` extra is headless.
"""

from __future__ import annotations

import numpy as np


class WindowUnavailable(RuntimeError):
    pass


class Window:
    def __init__(self, title: str):
        import cv2  # lazily: only a window needs it here

        self.cv2, self.title = cv2, title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise WindowUnavailable(
                "this OpenCV has no GUI (opencv-python-headless, or no display): "
                "use --serve PORT for a live view in a browser, or pip install 'fashion-edge[gui]'"
            ) from exc

    def show(self, rgb: np.ndarray) -> bool:
        """Show a frame; False once the user pressed q or ESC."""
        self.cv2.imshow(self.title, self.cv2.cvtColor(rgb, self.cv2.COLOR_RGB2BGR))
        return (self.cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        self.cv2.destroyWindow(self.title)
