"""`faceprint watch`: recognise people in a video file, webcam or stream, one event per person."""
from __future__ import annotations

import sys

from .common import (
    add_command,
    decision_opts,
    engine,
    finite_float,
    fpir_from_opts,
    gallery_opts,
    gallery_rule,
    model_opts,
    open_gallery,
)
from .liveness import liveness_opts


def register(sub, parents) -> None:
    sp = add_command(sub, parents, "watch",
                     "recognise people in a video file, webcam or stream: one event per person", run)
    sp.add_argument("source", help="video file, webcam index (0), rtsp:// or http(s):// MJPEG/HLS URL")
    sp.add_argument("--events", metavar="FILE", help="append events as JSON lines to FILE")
    sp.add_argument("--json", action="store_true", help="print events as JSON lines on stdout")
    sp.add_argument("--webhook", metavar="URL", help="POST each event as JSON to URL (with retries)")
    sp.add_argument("--mqtt", metavar="URL",
                    help="publish events to mqtt://[user:pass@]host[:port]/topic (double-take: /root, optional)")
    sp.add_argument("--mqtt-format", choices=("faceprint", "double-take"), default="faceprint",
                    help="faceprint: each event's JSON on the URL's topic; double-take: what Double Take "
                         "publishes, with Home Assistant MQTT discovery")
    sp.add_argument("--camera", metavar="NAME",
                    help="camera name in double-take topics (default: the URL's host or the file's name)")
    sp.add_argument("--output", metavar="VIDEO", help="write the analysed frames with boxes and names (.mp4)")
    decision_opts(sp)
    fpir_from_opts(sp)
    sp.add_argument("--fps", type=finite_float, default=10.0, help="frames analysed per second of video (0: all)")
    sp.add_argument("--min-face", type=finite_float, default=40.0, help="narrowest face used for recognition (px)")
    sp.add_argument("--save-unknown", metavar="DIR", help="keep one best crop per unknown person (off by default)")
    sp.add_argument("--liveness", action="store_true",
                    help="judge each track live or a presentation attack over its frames: a recognised "
                         "attack gives an 'attack' event instead of 'recognized'")
    liveness_opts(sp)
    gallery_opts(sp)
    model_opts(sp)


def run(args) -> int:
    import signal

    from ..errors import UsageError
    from ..stream import MQTTConfig, make_sinks, watch
    if not args.mqtt and (args.mqtt_format != "faceprint" or args.camera):
        raise UsageError("--mqtt-format and --camera go with --mqtt URL")
    mqtt = MQTTConfig.from_url(args.mqtt, format=args.mqtt_format, camera=args.camera) if args.mqtt else None
    eng = engine(args, gallery=True)
    with open_gallery(args, eng, readonly=True) as g:
        sinks = make_sinks(events=args.events, stdout=args.json, webhook=args.webhook, mqtt=mqtt)
        chosen = gallery_rule(g, args)      # fixed for the watch, from the gallery as it is at the start
        if chosen is not None:
            print(f"open-set threshold {chosen.threshold:.4f} from the {chosen.source} ({chosen.reason})", file=sys.stderr)
        w = watch(args.source, gallery=g, engine=eng, fpir=None if chosen else args.fpir,
                  threshold=chosen.threshold if chosen else args.threshold,
                  fps=args.fps or None, min_face=args.min_face, sinks=sinks, output=args.output,
                  save_unknown=args.save_unknown, progress=not args.json, threads=args.threads,
                  liveness=eng.enable_liveness(args.liveness_threshold) if args.liveness else None)
        # Ctrl-C ends the watch cleanly (open tracks still get their events); a second one aborts.
        prev = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda *_: (w.stop(), signal.signal(signal.SIGINT, prev)))
        try:
            with w:
                for e in w:
                    if not args.json:
                        _print_event(e)
        finally:
            signal.signal(signal.SIGINT, prev)
        if not args.json and not getattr(args, "quiet", False):
            st = w.stats
            print(f"analysed {st['frames']} frames, {st['tracks']} tracks; dropped {st['dropped']} "
                  f"live frames; events {st['events']}", file=sys.stderr)
    return 0


def _print_event(e) -> None:
    if e.event in ("recognized", "attack", "unknown", "source_lost", "source_back"):
        who = e.subject or (e.reason if e.event == "source_lost" else "")
        score = f"  score {e.score:.3f}" if e.score is not None else ""
        track = f"  track {e.track}" if e.track is not None else ""
        print(f"{e.time:9.2f}s  {e.event:<11} {who}{score}{track}", flush=True)
