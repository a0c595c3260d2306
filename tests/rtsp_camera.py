"""An RTSP camera for tests: GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-good, python3-gi) serving numbered JPEG frames as RTP/JPEG at real-time pace.

Run by the system python3 (which has PyGObject), not the project's venv:
    python3 tests/rtsp_camera.py --port 8554 --frames DIR --fps 15 [--epoch UNIX_TIME]
The frame on air is chosen by the wall clock since the epoch (default: when the first client
connects), so a restarted server with the same epoch resumes where a camera would be. Prints
"listening" once it accepts connections and "epoch T" when its clock starts; the stream ends after the
last frame."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--frames", type=Path, required=True)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--epoch", type=float, default=0.0)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    args = ap.parse_args()
    Gst.init(None)
    jpegs = [p.read_bytes() for p in sorted(args.frames.glob("*.jpg"))]
    clock = {"epoch": args.epoch or None}

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( appsrc name=src is-live=true format=time do-timestamp=true "
                       f"caps=image/jpeg,width={args.width},height={args.height},framerate={args.fps}/1 "
                       f"! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(True)

    def configure(_factory, media):
        src = media.get_element().get_by_name("src")
        state = {"sent": -1, "on": True}
        media.connect("unprepared", lambda *_: state.update(on=False))

        def tick() -> bool:
            if not state["on"]:
                return False
            now = time.time()
            if clock["epoch"] is None:
                clock["epoch"] = now
                print(f"epoch {now!r}", flush=True)
            i = int((now - clock["epoch"]) * args.fps)
            if i >= len(jpegs):
                src.emit("end-of-stream")
                return False
            if i > state["sent"]:
                state["sent"] = i
                src.emit("push-buffer", Gst.Buffer.new_wrapped(jpegs[i]))
            return True

        GLib.timeout_add(max(1, 500 // args.fps), tick)

    factory.connect("media-configure", configure)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.get_mount_points().add_factory("/camera", factory)
    if not server.attach(None):
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print("listening", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
