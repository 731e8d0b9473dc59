"""Decoding only what sampling needs: packets in, frames in presentation order out.

At fps sampling three savings keep the output identical to decoding every frame:

* frames that cannot be chosen are dropped by the codec itself when nothing references them
  (``skip_frame = NONREF``, switched per packet by `sampling.SkipPlan`): on a screen
  recording with B-frames that is most frames;
* frames that cannot be chosen and lie (in decode order) just before an IDR frame are not
  decoded at all, references included: decoding restarts at the IDR (`keyframes.py`);
* when a keyframe lies at least SEEK_MIN_GAP seconds ahead and at or before the next target,
  the demuxer seeks to it (sparse targets, e.g. ``fps=0.1``).

Scene and every-N modes see every frame (nothing is skipped).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from imageserver.video.keyframes import idr_test
from imageserver.video.sampling import SLACK
from imageserver.video.sampling import Chooser
from imageserver.video.sampling import SkipPlan
from imageserver.video.videoio import frame_time
from imageserver.video.videoio import keyframe_times

SEEK_MIN_GAP = 2.0  # seconds of decoding a seek must skip to be worth a decoder flush
LOOKAHEAD = 32  # packets judged late: twice H.264's largest reorder depth, and far enough
# ahead to see the next IDR in time to leave the unneeded frames before it undecoded


@dataclass
class Pending:
    """A demuxed packet waiting for its turn: its time and whether it is an IDR."""

    packet: Any
    t: float | None
    idr: bool


class Decoded:
    """Iterates (index, t, frame) of one stream, asking ``chooser`` where targets are;
    ``seekable=False`` for a source read as a pipe (a growing file).

    ``last_packet_t`` is the largest presentation time demuxed (skipped frames included),
    which tells a complete file from one cut short.
    """

    def __init__(
        self, container: Any, stream: Any, chooser: Chooser, seekable: bool = True
    ) -> None:
        self.container, self.stream, self.chooser = container, stream, chooser
        self.codec = stream.codec_context
        self.rate = float(stream.average_rate) if stream.average_rate else None
        self.start = stream.start_time or 0
        self.plan = SkipPlan(chooser.value) if chooser.mode == "fps" else None
        self.keys = keyframe_times(stream) if chooser.mode == "fps" and seekable else []
        self.is_idr = idr_test(stream) if self.plan is not None else None
        self.idrs_pending = 0
        self.index, self.last_seek = -1, -1
        self.last_packet_t = -1.0

    def __iter__(self) -> Iterator[tuple[int, float, Any]]:
        while True:
            seek_to = yield from self._run()
            if seek_to is None:
                return
            # Seek to the target, not to the index entry: entries hold DTS but seeking
            # compares PTS, so an entry's own timestamp lands on the previous keyframe.
            target = round(seek_to / self.stream.time_base) + self.start
            self.container.seek(target, stream=self.stream, backward=True)
            self.codec.flush_buffers()
            if self.plan is not None:
                self.plan.forget()

    def _run(self) -> Iterator[tuple[int, float, Any]]:
        """Decode until the end (returns None) or until a seek pays (returns its target)."""
        pending: deque[Pending] = deque()
        self.idrs_pending = 0
        for packet in self.container.demux(self.stream):
            if packet.size == 0:
                continue  # a demuxer's end-of-stream marker, not data
            idr = self.is_idr is not None and self.is_idr(packet)
            pending.append(Pending(packet, self._packet_time(packet), idr))
            self.idrs_pending += idr
            if self.plan is not None and len(pending) <= LOOKAHEAD:
                continue
            seek_to = yield from self._send(pending)
            if seek_to is not None:
                return seek_to
        while pending:
            yield from self._send(pending)
        self.codec.skip_frame = "DEFAULT"
        yield from self._frames(self.stream.decode(None))
        return None

    def _packet_time(self, packet: Any) -> float | None:
        if packet.pts is None:
            return None
        t = float((packet.pts - self.start) * self.stream.time_base)
        self.last_packet_t = max(self.last_packet_t, t)
        if self.plan is not None:
            self.plan.saw(t)
        return t

    def _send(self, pending: deque[Pending]) -> Iterator[tuple[int, float, Any]]:
        """Decode the oldest pending packet (or drop it); return a seek target if one pays."""
        first = pending.popleft()
        self.idrs_pending -= first.idr
        if self.plan is not None:
            if self.idrs_pending and self._unneeded_until_idr(first, pending):
                return None  # nothing needs it: not even handed to the codec
            self.codec.skip_frame = "NONREF" if self.plan.droppable(first.t) else "DEFAULT"
        frames = self.stream.decode(first.packet)
        yield from self._frames(frames)
        return self._seek_target() if frames else None

    def _unneeded_until_idr(self, first: Pending, pending: deque[Pending]) -> bool:
        """True when ``first`` and every packet after it up to an IDR can never be chosen:
        decoding restarts at the IDR, so none of them is needed as a reference either."""
        assert self.plan is not None
        if first.idr or not self.plan.droppable(first.t):
            return False
        for later in pending:
            if later.idr:
                return True
            if not self.plan.droppable(later.t):
                return False
        return False

    def _frames(self, frames: list[Any]) -> Iterator[tuple[int, float, Any]]:
        for frame in frames:
            self.index += 1
            yield self.index, frame_time(frame, self.stream, self.index, self.rate), frame

    def _seek_target(self) -> float | None:
        """The next target when a keyframe at least SEEK_MIN_GAP ahead lies before it."""
        if not self.keys or self.index < 0:
            return None
        target = self.chooser.next_target
        i = bisect.bisect_right(self.keys, target + SLACK) - 1
        # `last_seek` guards against loops if a demuxer lands before the asked keyframe.
        if i > self.last_seek and self.keys[i] >= self.last_packet_t + SEEK_MIN_GAP:
            self.last_seek = i
            return target
        return None
