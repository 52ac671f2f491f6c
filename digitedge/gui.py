"""Can `digitedge live` open a window here, and how to get one without breaking OpenCV: `python -m digitedge.gui`.

digitedge installs opencv-python-headless (no GUI: right for servers, containers and CI). A window needs OpenCV's
GUI build, opencv-python. Both wheels install the same `cv2` folder, so once both are installed, uninstalling
either deletes files the other still needs and `import cv2` fails. The switch below never uninstalls: pip
reinstalls the build you want over the `cv2` folder (--force-reinstall rewrites every file of it, --no-deps leaves
numpy alone), so cv2 works after every step, and switching back is the same command with the other name.

This module imports cv2 only inside a try, so it still runs (and says how to repair) when cv2 is broken.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

HEADLESS, GUI = "opencv-python-headless", "opencv-python"
OPENCV_DISTS = (GUI, HEADLESS, "opencv-contrib-python", "opencv-contrib-python-headless")


def installed() -> dict[str, str]:
    """The OpenCV wheels pip has installed here: name -> version."""
    found = {}
    for name in OPENCV_DISTS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def cv2_gui() -> tuple[bool | None, str]:
    """(True/False: cv2 imports and has / lacks a GUI backend, None: cv2 does not import; the reason or backend)."""
    try:
        import cv2
    except Exception as e:  # a half-removed cv2 fails in many ways (ImportError, AttributeError...)
        return None, f"{e.__class__.__name__}: {e}"
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            backend = line.split(":", 1)[1].strip()
            return backend.upper() != "NONE", backend
    return False, "unknown"


def switch_command(to: str = GUI) -> str:
    """The one command that puts the `to` build in place (the version cv2 has now, so nothing else changes)."""
    versions = installed()
    version = versions.get(to) or versions.get(HEADLESS) or versions.get(GUI)
    return f"pip install --force-reinstall --no-deps {to}" + (f"=={version}" if version else "")


def no_window_reason() -> str | None:
    """None when a window can be shown, else one line saying why not and what to do."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no DISPLAY, so no window"
    ok, _ = cv2_gui()
    if not ok:
        return f"this OpenCV has no GUI (opencv-python-headless), so no window; for one: {switch_command()}"
    return None


def report() -> tuple[int, list[str]]:
    """What `python -m digitedge.gui` prints, and its exit code (0: a window can be shown)."""
    versions, (ok, detail) = installed(), cv2_gui()
    lines = ["OpenCV wheels installed: " + (", ".join(f"{k} {v}" for k, v in versions.items()) or "none")]
    if ok is None:
        lines += [f"cv2 does not import ({detail[:160]}): its folder was probably half removed by uninstalling one of "
                  "two OpenCV wheels.", f"Repair (nothing is uninstalled): {switch_command(HEADLESS)}",
                  f"  or, for a window as well: {switch_command(GUI)}"]
        return 2, lines
    lines.append(f"cv2 {'has a GUI' if ok else 'has no GUI'} ({detail})")
    reason = no_window_reason()
    if ok:
        lines.append(f"Back to the headless build (nothing is uninstalled): {switch_command(HEADLESS)}")
    else:
        lines.append(f"For a window (nothing is uninstalled): {switch_command(GUI)}")
    if len(versions) > 1:
        lines.append("Both builds are recorded as installed: never `pip uninstall` one of them alone (that deletes "
                     "cv2's shared files); switch with the commands above.")
    lines.append("A window can be shown here." if reason is None else f"No window here: {reason}.")
    return (0 if reason is None else 1), lines


def main() -> int:
    code, lines = report()
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
