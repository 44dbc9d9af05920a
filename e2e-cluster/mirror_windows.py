"""Checks a stream of admissions against mirrors stopped and started in turn, and prints the windows.

Usage: mirror_windows.py ADMISSIONS EVENTS WINDOW INTERVAL FIRST_IMAGE SECOND_IMAGE SOURCE_IMAGE

ADMISSIONS has one row per admitted Pod: "<start> <end> <image>" (seconds since the epoch).
EVENTS has one row per change: "<first|second>-<stopped|started> <time>", in time order.
A Pod whose admission started more than WINDOW seconds after its mirror was stopped (and before
it was started again) must not point at it; a Pod whose admission started more than WINDOW after
a stop, or INTERVAL (+0.5 s of slack) after a start, must point at the first mirror that is
running, or at the source image when none is.
"""

import sys


def main():
    admissions, events = sys.argv[1], sys.argv[2]
    window, interval = float(sys.argv[3]), float(sys.argv[4])
    images = {"first": sys.argv[5], "second": sys.argv[6]}
    source = sys.argv[7]
    rows = [line.split() for line in open(admissions) if line.strip()]
    assert rows, "no admissions recorded"
    rows = [(float(s), float(e), image) for s, e, image in rows]
    changes = []
    for line in open(events):
        name, when = line.split()
        mirror, what = name.split("-")
        changes.append((float(when), mirror, what == "started"))
    allowed = set(images.values()) | {source}
    assert all(image in allowed for _, _, image in rows), rows

    def running_at(t):
        up = {"first": True, "second": True}
        for when, mirror, started in changes:
            if when <= t:
                up[mirror] = started
        return up

    def stopped_since(mirror, t):
        """When `mirror` was last stopped at or before t, if it has not started since."""
        since = None
        for when, name, started in changes:
            if when > t or name != mirror:
                continue
            since = None if started else when
        return since

    bad = []
    for start, end, image in rows:
        for mirror, mirror_image in images.items():
            since = stopped_since(mirror, start)
            if image == mirror_image and since is not None and start > since + window:
                bad.append((start - since, mirror, image))
    assert not bad, f"pointed at a stopped mirror after the {window} s window: {bad}"

    stale = []
    for start, end, image in rows:
        last = max(((w, started) for w, _, started in changes if w <= start), default=None)
        if last is None:
            continue
        # A stop is noticed within the window, a start at the next check.
        last_change, started = last
        if start <= last_change + (interval + 0.5 if started else window):
            continue
        up = running_at(start)
        want = next((images[m] for m in ("first", "second") if up[m]), source)
        if image != want:
            stale.append((start - last_change, image, want))
    assert not stale, f"not on the first running mirror one interval after a change: {stale}"

    unchanged = sum(1 for r in rows if r[2] == source)
    print(f"{len(rows)} Pods admitted, none failed; {unchanged} admitted unchanged while no mirror answered")
    for i, (when, mirror, started) in enumerate(changes):
        until = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
        during = [r for r in rows if when <= r[0] < until]
        if started:
            took = min((e - when for s, e, image in during if image == images[mirror]), default=None)
            took = "never" if took is None else f"{took:.2f} s"
            print(f"{mirror} mirror started: first Pod rewritten to it {took} later (bound {interval:.0f} s interval)")
        else:
            late = max((e - when for s, e, image in during if image == images[mirror]), default=0.0)
            print(f"{mirror} mirror stopped: last Pod pointing at it admitted {late:.2f} s later (bound {window:.0f} s)")


if __name__ == "__main__":
    main()
